package lcconfig

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

func TestBuildURI(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		opts    URIOptions
		want    string
	}{
		{
			name:    "one host gets the default port, database and set",
			members: MembersOf("10.0.0.1"),
			want:    "mongodb://10.0.0.1:27017/letschat?replicaSet=letschat",
		},
		{
			name:    "IPv4 hosts in numeric order, not lexical",
			members: MembersOf("10.0.0.10:27017", "10.0.0.9:27017", "10.0.0.1:27017"),
			want:    "mongodb://10.0.0.1:27017,10.0.0.9:27017,10.0.0.10:27017/letschat?replicaSet=letschat",
		},
		{
			name:    "addresses before names, names lower-cased, then by port",
			members: MembersOf("Mongo-B:27018", "mongo-a", "10.0.0.5", "mongo-b:27017"),
			want:    "mongodb://10.0.0.5:27017,mongo-a:27017,mongo-b:27017,mongo-b:27018/letschat?replicaSet=letschat",
		},
		{
			name: "healthy first, unknown next, unhealthy last; all kept",
			members: []Member{
				{Addr: "10.0.0.1", Health: Unhealthy},
				{Addr: "10.0.0.2"},
				{Addr: "10.0.0.3", Health: Healthy},
				{Addr: "10.0.0.4", Health: Healthy},
			},
			want: "mongodb://10.0.0.3:27017,10.0.0.4:27017,10.0.0.2:27017,10.0.0.1:27017/letschat?replicaSet=letschat",
		},
		{
			name: "a member listed twice keeps its better health",
			members: []Member{
				{Addr: "10.0.0.1:27017", Health: Unhealthy},
				{Addr: "10.0.0.2", Health: HealthUnknown},
				{Addr: " 10.0.0.1 ", Health: Healthy},
			},
			want: "mongodb://10.0.0.1:27017,10.0.0.2:27017/letschat?replicaSet=letschat",
		},
		{
			name:    "credentials percent-escaped; authSource then options sorted by key",
			members: MembersOf("10.0.0.1", "10.0.0.2"),
			opts: URIOptions{
				Username: "chat user", Password: "p@ss:w/rd%?#", AuthSource: "admin",
				Options: map[string]string{"w": "majority", "readPreference": "primaryPreferred"},
			},
			want: "mongodb://chat%20user:p%40ss%3Aw%2Frd%25%3F%23@10.0.0.1:27017,10.0.0.2:27017/letschat?replicaSet=letschat&authSource=admin&readPreference=primaryPreferred&w=majority",
		},
		{
			name:    "custom database and a set name with a leading digit",
			members: MembersOf("db1.example.com:27019"),
			opts:    URIOptions{Database: "chat_prod", ReplicaSet: "123-rs"},
			want:    "mongodb://db1.example.com:27019/chat_prod?replicaSet=123-rs",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BuildURI(tc.members, tc.opts)
			if err != nil {
				t.Fatalf("BuildURI: %v", err)
			}
			if got != tc.want {
				t.Fatalf("BuildURI\n got %s\nwant %s", got, tc.want)
			}
			// An independent parser must read back what we meant.
			cs, err := connstring.ParseAndValidate(got)
			if err != nil {
				t.Fatalf("driver cannot parse %s: %v", Redact(got), err)
			}
			if cs.Username != tc.opts.Username || cs.Password != tc.opts.Password {
				t.Errorf("credentials read back as %q/%q", cs.Username, Redact(cs.Password))
			}
			if want := cmpOr(tc.opts.ReplicaSet, DefaultReplicaSet); cs.ReplicaSet != want {
				t.Errorf("replicaSet read back as %q, want %q", cs.ReplicaSet, want)
			}
			if want := cmpOr(tc.opts.Database, DefaultDatabase); cs.Database != want {
				t.Errorf("database read back as %q, want %q", cs.Database, want)
			}
		})
	}
}

func TestBuildURI_isDeterministic(t *testing.T) {
	a, err := BuildURI(MembersOf("10.0.0.3", "10.0.0.1", "10.0.0.2"), URIOptions{Options: map[string]string{"b": "1", "a": "2", "c": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildURI(MembersOf("10.0.0.2", "10.0.0.3", "10.0.0.1"), URIOptions{Options: map[string]string{"c": "3", "b": "1", "a": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("same members and options in another order gave\n%s\n%s", a, b)
	}
}

func TestBuildURI_badInput(t *testing.T) {
	tests := []struct {
		name    string
		members []Member
		opts    URIOptions
		want    error
		mention string // must appear in the message
		secret  string // must not appear in the message
	}{
		{name: "nil list", want: ErrNoHosts},
		{name: "empty list", members: []Member{}, want: ErrNoHosts},
		{name: "blank address", members: MembersOf("  "), want: ErrInvalidHost, mention: "empty"},
		{name: "bracketed IPv6", members: MembersOf("[fe80::1]:27017"), want: ErrInvalidHost, mention: "IPv6"},
		{name: "bare IPv6", members: MembersOf("fe80::1"), want: ErrInvalidHost, mention: "IPv6"},
		{name: "SRV URI", members: MembersOf("mongodb+srv://cluster.example.com"), want: ErrInvalidHost, mention: "mongodb+srv"},
		{name: "a URI, not an address", members: MembersOf("mongodb://10.0.0.1"), want: ErrInvalidHost, mention: "not a URI"},
		{name: "credentials in an address", members: MembersOf("admin:hunter2@10.0.0.1"), want: ErrInvalidHost, mention: "credentials", secret: "hunter2"},
		{name: "port zero", members: MembersOf("10.0.0.1:0"), want: ErrInvalidHost, mention: "port"},
		{name: "port too large", members: MembersOf("10.0.0.1:65536"), want: ErrInvalidHost, mention: "port"},
		{name: "port not a number", members: MembersOf("10.0.0.1:http"), want: ErrInvalidHost, mention: "port"},
		{name: "signed port", members: MembersOf("10.0.0.1:+27017"), want: ErrInvalidHost, mention: "port"},
		{name: "missing host", members: MembersOf(":27017"), want: ErrInvalidHost},
		{name: "bad dotted quad", members: MembersOf("10.0.0.256"), want: ErrInvalidHost, mention: "IPv4"},
		{name: "space in a name", members: MembersOf("mongo one"), want: ErrInvalidHost},
		{name: "comma in a name", members: MembersOf("a,b"), want: ErrInvalidHost},
		{name: "label starting with a dash", members: MembersOf("-mongo.example"), want: ErrInvalidHost},
		{name: "one bad member spoils the list", members: MembersOf("10.0.0.1", "10.0.0.2/x"), want: ErrInvalidHost},
		{name: "password without user", members: MembersOf("10.0.0.1"), opts: URIOptions{Password: "s3cret"}, want: ErrInvalidOption, secret: "s3cret"},
		{name: "database with a slash", members: MembersOf("10.0.0.1"), opts: URIOptions{Database: "chat/x"}, want: ErrInvalidOption},
		{name: "set name with a slash", members: MembersOf("10.0.0.1"), opts: URIOptions{ReplicaSet: "rs/0"}, want: ErrInvalidOption},
		{name: "replicaSet as an extra option", members: MembersOf("10.0.0.1"), opts: URIOptions{Options: map[string]string{"replicaset": "x"}}, want: ErrInvalidOption},
		{name: "option value that needs escaping", members: MembersOf("10.0.0.1"),
			opts: URIOptions{Options: map[string]string{"authMechanismProperties": "AWS_SESSION_TOKEN:tok&en"}}, want: ErrInvalidOption, secret: "tok&en"},
		{name: "empty option value", members: MembersOf("10.0.0.1"), opts: URIOptions{Options: map[string]string{"w": ""}}, want: ErrInvalidOption},
		{name: "option name with a dot", members: MembersOf("10.0.0.1"), opts: URIOptions{Options: map[string]string{"a.b": "1"}}, want: ErrInvalidOption},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uri, err := BuildURI(tc.members, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("BuildURI = %q, %v; want %v", uri, err, tc.want)
			}
			if uri != "" {
				t.Errorf("BuildURI returned %q with an error", uri)
			}
			if tc.mention != "" && !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q leaks %q", err, tc.secret)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no credentials", "mongodb://10.0.0.1:27017/letschat?replicaSet=letschat", "mongodb://10.0.0.1:27017/letschat?replicaSet=letschat"},
		{"password hidden, user kept", "mongodb://chat:p%40ss@10.0.0.1:27017/letschat?replicaSet=letschat", "mongodb://chat:xxxxx@10.0.0.1:27017/letschat?replicaSet=letschat"},
		{"user without password", "mongodb://chat@10.0.0.1/letschat", "mongodb://chat@10.0.0.1/letschat"},
		{"unescaped password with slash and at", "mongodb://chat:a/b@c@10.0.0.1/letschat", "mongodb://chat:xxxxx@10.0.0.1/letschat"},
		{"secret option values", "mongodb://10.0.0.1/x?replicaSet=rs&authMechanismProperties=AWS_SESSION_TOKEN:tok&w=1", "mongodb://10.0.0.1/x?replicaSet=rs&authMechanismProperties=xxxxx&w=1"},
		{"not a URI at all", "chat:hunter2@10.0.0.1", "chat:xxxxx@10.0.0.1"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in); got != tc.want {
				t.Fatalf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}
