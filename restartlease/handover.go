package restartlease

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Successor returns who claimed the offer of this instance's current hold, and whether it still
// holds the lease, as the primary has it.
func (l *Lease) Successor(ctx context.Context) (string, bool, error) {
	l.mu.Lock()
	h := l.hold
	l.mu.Unlock()
	if h == nil {
		return "", false, nil
	}
	doc, err := l.read(ctx)
	if err != nil {
		return "", false, unavailable("cannot read the lease: %v", err)
	}
	if doc == nil || doc.Holder != l.cfg.Holder || doc.Token != h.token {
		return "", false, nil
	}
	return doc.Successor, true, nil
}

// Offered returns the holder's offer of its place, if the lease holds one: ref is its hold token,
// successor who claimed it ("" while no one has).
func (l *Lease) Offered(ctx context.Context) (from, ref, successor string, err error) {
	doc, err := l.read(ctx)
	if err != nil {
		return "", "", "", unavailable("cannot read the lease: %v", err)
	}
	if doc == nil || doc.Holder == "" || !doc.Handover {
		return "", "", "", nil
	}
	return doc.Holder, doc.Token, doc.Successor, nil
}

// Claim takes the offer of from's hold ref: written only if that hold still offers its place and
// no one claimed it yet.
func (l *Lease) Claim(ctx context.Context, from, ref string) error {
	res, err := l.collection().UpdateOne(ctx,
		bson.D{{Key: "_id", Value: l.cfg.Name}, {Key: "holder", Value: from}, {Key: "token", Value: ref}, {Key: "handover", Value: true}, {Key: "successor", Value: ""}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "successor", Value: l.cfg.Holder}}}, {Key: "$inc", Value: bson.D{{Key: "counter", Value: int64(1)}}}})
	if err != nil {
		return unavailable("claim not written: %v", err)
	}
	if res.MatchedCount == 0 {
		return unavailable("the offer of %s was claimed by another instance or withdrawn", from)
	}
	return nil
}
