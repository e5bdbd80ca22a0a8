package docstore

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// j parses relaxed Extended JSON into a document, so that table tests read like the MongoDB
// manual's examples.
func j(t testing.TB, s string) bson.D {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	if d == nil {
		d = bson.D{}
	}
	return d
}

func raw(t testing.TB, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// js renders a document as relaxed Extended JSON for comparisons in tests.
func js(t testing.TB, r bson.Raw) string {
	t.Helper()
	b, err := bson.MarshalExtJSON(r, false, false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsD(t testing.TB, d bson.D) string { return js(t, raw(t, d)) }

func codeOf(err error) int32 {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return -1
}
