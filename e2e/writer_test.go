package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// writer plays Let's Chat's traffic during a scenario: it inserts numbered messages with
// w:"majority" through a replicaSet= URI, as Let's Chat does (as Let's Chat's user when the set
// has access control), and remembers which were
// acknowledged, so that the suite can check afterwards that none of them was lost.
type writer struct {
	client *mongo.Client
	coll   *mongo.Collection
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	acked  []int64
	failed int
}

func startWriter(seeds []string, set string, cred *options.Credential) (*writer, error) {
	uri := "mongodb://" + strings.Join(seeds, ",") + "/?replicaSet=" + set
	o := options.Client().ApplyURI(uri).
		SetHeartbeatInterval(500 * time.Millisecond).
		SetServerSelectionTimeout(2 * time.Second).
		SetWriteConcern(writeconcern.Majority())
	if cred != nil {
		o.SetAuth(*cred)
	}
	client, err := mongo.Connect(o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{client: client, coll: client.Database("letschat").Collection("messages"), cancel: cancel}
	w.wg.Go(func() {
		for n := int64(0); ctx.Err() == nil; n++ {
			octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := w.coll.InsertOne(octx, bson.D{{Key: "_id", Value: n}, {Key: "text", Value: "hello"}})
			ocancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, n)
			} else if ctx.Err() == nil {
				w.failed++
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return w, nil
}

// stop ends the traffic; the client stays open for verify.
func (w *writer) stop() {
	w.cancel()
	w.wg.Wait()
}

func (w *writer) counts() (acked, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.failed
}

// verify reads the collection back from the primary with read concern majority and returns the
// acknowledged writes that are missing: each of them is a lost majority write.
func (w *writer) verify(ctx context.Context) ([]int64, error) {
	w.mu.Lock()
	acked := append([]int64(nil), w.acked...)
	w.mu.Unlock()
	coll := w.client.Database("letschat").Collection("messages", options.Collection().SetReadConcern(readconcern.Majority()))
	var present map[int64]bool
	var err error
	// The read may land in an election; a few tries ride it out.
	for try := 0; try < 20; try++ {
		present, err = readIDs(ctx, coll)
		if err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the writes back: %w", err)
	}
	var missing []int64
	for _, n := range acked {
		if !present[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

func readIDs(ctx context.Context, coll *mongo.Collection) (map[int64]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := map[int64]bool{}
	for cur.Next(ctx) {
		var doc struct {
			ID int64 `bson:"_id"`
		}
		if err := cur.Decode(&doc); err != nil {
			return nil, err
		}
		out[doc.ID] = true
	}
	return out, cur.Err()
}

func (w *writer) close() {
	w.stop()
	_ = w.client.Disconnect(context.Background())
}
