package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// OpTime identifies an oplog entry: the election term it was written in and its timestamp.
// Terms compare first, as in the server.
type OpTime struct {
	TS   bson.Timestamp
	Term int64
}

// Compare returns -1, 0 or 1 as o is older than, equal to or newer than p.
func (o OpTime) Compare(p OpTime) int {
	switch {
	case o.Term != p.Term:
		return cmpInt(o.Term, p.Term)
	case o.TS.T != p.TS.T:
		return cmpInt(int64(o.TS.T), int64(p.TS.T))
	default:
		return cmpInt(int64(o.TS.I), int64(p.TS.I))
	}
}

// IsZero reports whether o is the null optime of a node with an empty oplog.
func (o OpTime) IsZero() bool { return o == OpTime{} }

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// doc renders o as mongod does; the null optime of an empty oplog has term -1.
func (o OpTime) doc() bson.D {
	if o.IsZero() {
		return bson.D{{Key: "ts", Value: o.TS}, {Key: "t", Value: int64(-1)}}
	}
	return bson.D{{Key: "ts", Value: o.TS}, {Key: "t", Value: o.Term}}
}

// Entry is one oplog entry. Op is "n" for a no-op (initiate, new primary), "i" for an insert,
// "u" for an update, "d" for a delete or "c" for a command (see package docstore's Op).
type Entry struct {
	OpTime OpTime
	Wall   time.Time
	Op     string
	// NS is "db.collection" for inserts, updates and deletes, and "db.$cmd" for commands.
	NS string
	// Doc is the inserted or updated document (the whole document after the update), {_id} of a
	// deleted one, the command, or the no-op message document.
	Doc bson.Raw
}

func lastOpTime(log []Entry) OpTime {
	if len(log) == 0 {
		return OpTime{}
	}
	return log[len(log)-1].OpTime
}

func lastWall(log []Entry) time.Time {
	if len(log) == 0 {
		return time.Unix(0, 0)
	}
	return log[len(log)-1].Wall
}

// indexOf returns the position of the entry with optime t in log, or -1.
func indexOf(log []Entry, t OpTime) int {
	lo, hi := 0, len(log)
	for lo < hi {
		mid := (lo + hi) / 2
		if log[mid].OpTime.Compare(t) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(log) && log[lo].OpTime == t {
		return lo
	}
	return -1
}

// commonPrefix returns how many leading entries a and b share.
func commonPrefix(a, b []Entry) int {
	n := min(len(a), len(b))
	// Entries are unique by optime, so the shared prefix ends where the optimes first differ.
	lo, hi := 0, n
	for lo < hi {
		mid := (lo + hi) / 2
		if a[mid].OpTime == b[mid].OpTime {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
