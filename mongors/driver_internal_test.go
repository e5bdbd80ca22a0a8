package mongors

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func loadReply(t *testing.T) bson.Raw {
	t.Helper()
	js, err := os.ReadFile("testdata/replsetgetconfig.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(js, true, &raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestParseConfig_keepsWhatItDoesNotManage(t *testing.T) {
	cfg, err := parseConfig(loadReply(t).Lookup("config").Document())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "letschat" || cfg.Version != 5 || cfg.Term != 3 || len(cfg.Members) != 3 {
		t.Fatalf("parsed %+v", cfg)
	}
	if m := cfg.Members[0]; m.Tags[HostTag] != "host-a" || m.Votes != 1 || m.Priority != 1 {
		t.Errorf("member 0 %+v", m)
	}
	if m := cfg.Members[1]; !m.Hidden || m.Votes != 1 || m.Priority != 0 {
		t.Errorf("member 1 %+v", m)
	}
	if m := cfg.Members[2]; m.ID != 7 || m.Votes != 0 {
		t.Errorf("member 2 %+v", m)
	}

	out, err := bson.Marshal(configDoc(cfg))
	if err != nil {
		t.Fatal(err)
	}
	doc := bson.Raw(out)
	if _, err := doc.LookupErr("term"); err == nil {
		t.Error("term sent back; the server sets it")
	}
	if id := doc.Lookup("settings", "replicaSetId").ObjectID().Hex(); id != "65a1b2c3d4e5f60718293a4b" {
		t.Errorf("replicaSetId %s not kept", id)
	}
	if v := doc.Lookup("version").Int32(); v != 5 {
		t.Errorf("version %d (want int32 5)", v)
	}
	members, _ := doc.Lookup("members").Array().Values()
	for i, mv := range members {
		m := mv.Document()
		if _, err := m.LookupErr("newlyAdded"); err == nil {
			t.Errorf("member %d: newlyAdded sent back (the server refuses it)", i)
		}
		if _, err := m.LookupErr("buildIndexes"); err != nil {
			t.Errorf("member %d: buildIndexes dropped", i)
		}
		if m.Lookup("votes").Type != bson.TypeInt32 || m.Lookup("priority").Type != bson.TypeDouble {
			t.Errorf("member %d: wrong BSON types", i)
		}
	}
	again, err := parseConfig(doc)
	if err != nil || again.Version != cfg.Version || len(again.Members) != 3 || again.Members[0].Tags[HostTag] != "host-a" {
		t.Errorf("round trip: %+v, %v", again, err)
	}
}

func TestParseConfig_badInput(t *testing.T) {
	cases := map[string]bson.D{
		"no name":           {{Key: "version", Value: 1}},
		"members not array": {{Key: "_id", Value: "x"}, {Key: "members", Value: "nope"}},
		"member not doc":    {{Key: "_id", Value: "x"}, {Key: "members", Value: bson.A{1}}},
		"member without id": {{Key: "_id", Value: "x"}, {Key: "members", Value: bson.A{bson.D{{Key: "host", Value: "a:1"}}}}},
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			raw, _ := bson.Marshal(d)
			if _, err := parseConfig(raw); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestReconfigCommand_neverForces(t *testing.T) {
	cmd := reconfigCommand(Config{Name: "letschat", Version: 2, Members: []ConfigMember{{ID: 0, Host: "a:1", Votes: 1, Priority: 1}}}, 7*time.Second)
	var keys []string
	for _, e := range cmd {
		keys = append(keys, e.Key)
	}
	if strings.Join(keys, ",") != "replSetReconfig,maxTimeMS" {
		t.Fatalf("command keys %v", keys)
	}
	if cmd[1].Value.(int64) != 7000 {
		t.Errorf("maxTimeMS %v", cmd[1].Value)
	}
}

func TestErrors_classifiedByCode(t *testing.T) {
	cases := []struct {
		code      int32
		sentinel  error
		retryable bool
	}{
		{109, ErrConfigInProgress, true},
		{308, ErrConfigNotCommitted, true},
		{10107, ErrNotPrimary, true},
		{50, ErrNotPropagated, true},
		{74, ErrNodeNotFound, true},
		{262, ErrNoCaughtUpSecondary, true},
		{93, ErrInvalidConfig, false},
		{103, ErrIncompatibleConfig, false},
		{104, ErrNodeNotElectable, false},
		{110, ErrHasData, false},
	}
	for _, tc := range cases {
		err := error(&CommandError{Op: "replSetReconfig", Addr: "a:1", Code: tc.code, Name: "X", Message: "m"})
		wrapped := errors.Join(errors.New("context"), err)
		if !errors.Is(wrapped, tc.sentinel) {
			t.Errorf("code %d does not match its sentinel", tc.code)
		}
		if Retryable(wrapped) != tc.retryable || Rejected(wrapped) == tc.retryable {
			t.Errorf("code %d: retryable %t rejected %t", tc.code, Retryable(wrapped), Rejected(wrapped))
		}
		if ErrorCode(wrapped) != tc.code {
			t.Errorf("code %d read back as %d", tc.code, ErrorCode(wrapped))
		}
	}
	u := error(&UnreachableError{Op: "hello", Addr: "a:1", Detail: "refused"})
	if !errors.Is(u, ErrUnreachable) || !Retryable(u) || ErrorCode(u) != 0 {
		t.Error("unreachable misclassified")
	}
}

func TestDriverClient_redactsServerText(t *testing.T) {
	const secret = "pa55-W0RD-xyz"
	d, err := NewDriverClient(ConnConfig{Address: "127.0.0.1:27017", Username: "agent", Password: secret})
	if err != nil {
		t.Fatal(err)
	}
	err = d.classify(t.Context(), "replSetReconfig", "a:1", mongo.CommandError{Code: 18, Name: "AuthenticationFailed", Message: "user agent password " + secret})
	if strings.Contains(err.Error(), secret) || !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("error %q", err)
	}
	err = d.classify(t.Context(), "hello", "a:1", errors.New("dial mongodb://agent:"+secret+"@a:1 failed"))
	if strings.Contains(err.Error(), secret) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %q", err)
	}
}
