package agent

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// demoWriter plays Let's Chat's traffic: it inserts messages with w:"majority" through the
// replicaSet= URI the letschat agent keeps current, as Let's Chat's user when the set has access
// control, so that the demo can show that no acknowledged
// write was lost across the scenario's failovers.
type demoWriter struct {
	acked, failed atomic.Int64
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

func startDemoWriter(ctx context.Context, seeds []string, set, user, password string) (*demoWriter, error) {
	uri := "mongodb://" + strings.Join(seeds, ",") + "/?replicaSet=" + set
	opts := options.Client().ApplyURI(uri).
		SetHeartbeatInterval(500 * time.Millisecond).
		SetServerSelectionTimeout(2 * time.Second).
		SetWriteConcern(writeconcern.Majority())
	if password != "" {
		// As Let's Chat: its own user, readWrite on its database only.
		opts.SetAuth(options.Credential{Username: user, Password: password, AuthSource: "admin"})
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &demoWriter{cancel: cancel}
	coll := client.Database("letschat").Collection("messages")
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer client.Disconnect(context.Background())
		for i := 0; ctx.Err() == nil; i++ {
			octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := coll.InsertOne(octx, bson.D{{Key: "n", Value: i}, {Key: "text", Value: "hello"}})
			ocancel()
			if err == nil {
				w.acked.Add(1)
			} else if ctx.Err() == nil {
				w.failed.Add(1)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w, nil
}

func (w *demoWriter) stop() {
	w.cancel()
	w.wg.Wait()
}
