package mongosim

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func buildOpMsg(t testing.TB, flags uint32, body bson.D, seq map[string][]bson.D) []byte {
	doc, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[4:], 7)
	binary.LittleEndian.PutUint32(b[12:], opMsg)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, 0)
	b = append(b, doc...)
	for id, docs := range seq {
		var sec []byte
		sec = append(sec, id...)
		sec = append(sec, 0)
		for _, d := range docs {
			raw, _ := bson.Marshal(d)
			sec = append(sec, raw...)
		}
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(sec)+4))
		b = append(b, sec...)
	}
	if flags&flagChecksumPresent != 0 {
		binary.LittleEndian.PutUint32(b, uint32(len(b)+4))
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	}
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestParseRequest(t *testing.T) {
	good := buildOpMsg(t, 0, bson.D{{Key: "insert", Value: "c"}}, map[string][]bson.D{"documents": {{{Key: "a", Value: 1}}, {{Key: "b", Value: 2}}}})
	summed := buildOpMsg(t, flagChecksumPresent, bson.D{{Key: "ping", Value: 1}}, nil)
	badSum := bytes.Clone(summed)
	badSum[len(badSum)-1] ^= 0xff
	tests := []struct {
		name    string
		msg     []byte
		wantErr bool
		docs    int
	}{
		{"body and sequence", good, false, 2},
		{"checksum", summed, false, 0},
		{"bad checksum", badSum, true, 0},
		{"truncated", good[:len(good)-3], true, 0},
		{"short header", good[:10], true, 0},
		{"unknown opcode", func() []byte { b := bytes.Clone(good); b[12] = 99; return b }(), true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseRequest(tc.msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && len(req.sequences["documents"]) != tc.docs {
				t.Fatalf("documents = %d, want %d", len(req.sequences["documents"]), tc.docs)
			}
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(buildOpMsg(f, 0, bson.D{{Key: "hello", Value: 1}}, nil))
	f.Add(buildOpMsg(f, flagChecksumPresent, bson.D{{Key: "ping", Value: 1}}, nil))
	f.Add(buildOpMsg(f, 0, bson.D{{Key: "insert", Value: "c"}}, map[string][]bson.D{"documents": {{{Key: "a", Value: bson.D{{Key: "b", Value: bson.A{1, "x"}}}}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err != nil {
			return
		}
		// Whatever parses must be safe for the handlers to read.
		_, _ = req.body.Elements()
		_ = firstValue(req.body)
	})
}

// TestMalformedInputClosesConnection sends garbage to a live node: it must close that connection
// and keep serving others.
func TestMalformedInputClosesConnection(t *testing.T) {
	_, addrs := newTestCluster(t, 1)
	conn, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bad := buildOpMsg(t, 0, bson.D{{Key: "ping", Value: 1}}, nil)
	bad[21] = 0x7f // corrupt the body's length
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes after malformed message, want close", n)
	}
	cl := directClient(t, addrs[0])
	if _, err := run(t, cl, bson.D{{Key: "ping", Value: 1}}); err != nil {
		t.Fatalf("node stopped serving: %v", err)
	}
}
