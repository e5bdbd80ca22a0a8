package scram_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	xdg "github.com/xdg-go/scram"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Published exchanges, replayed byte for byte: RFC 5802 §5 (SCRAM-SHA-1 with the plain password),
// RFC 7677 §3 (SCRAM-SHA-256), and the MongoDB authentication specification's SCRAM-SHA-1
// example, whose SCRAM password is the MD5 digest of "user:mongo:pencil".
func TestPublishedExchanges(t *testing.T) {
	tests := []struct {
		name        string
		mech        *scram.Mechanism
		mongoDigest bool // derive with MongoDB's preparation instead of the raw password
		salt        string
		iterations  int
		clientFirst string
		serverNonce string
		serverFirst string
		clientFinal string
		serverFinal string
	}{
		{
			name: "RFC 5802", mech: scram.SHA1, salt: "QSXCR+Q6sek8bf92", iterations: 4096,
			clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverNonce: "3rfcNHYJY1ZVvWVs7j",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name: "RFC 7677", mech: scram.SHA256, mongoDigest: true, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", iterations: 4096,
			clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
		{
			name: "MongoDB SCRAM-SHA-1", mech: scram.SHA1, mongoDigest: true, salt: "rQ9ZY3MntBeuP3E1TDVC4w==", iterations: 10000,
			clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverNonce: "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
			serverFinal: "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cred scram.Credential
			var err error
			if tc.mongoDigest {
				cred, err = tc.mech.Derive("user", "pencil", b64(t, tc.salt), tc.iterations)
			} else {
				cred, err = tc.mech.FromSCRAMPassword("pencil", b64(t, tc.salt), tc.iterations)
			}
			if err != nil {
				t.Fatal(err)
			}
			conv, err := scram.NewConversation(scram.ServerConfig{
				Mechanism: tc.mech,
				Lookup: func(u string) (scram.Credential, bool) {
					return cred, u == "user"
				},
				Nonce: func() string { return tc.serverNonce },
			})
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := conv.Step([]byte(tc.clientFirst))
			if err != nil || done || string(out) != tc.serverFirst {
				t.Fatalf("server-first = %q, done %v, err %v; want %q", out, done, err, tc.serverFirst)
			}
			out, done, err = conv.Step([]byte(tc.clientFinal))
			if err != nil || done || string(out) != tc.serverFinal {
				t.Fatalf("server-final = %q, done %v, err %v; want %q", out, done, err, tc.serverFinal)
			}
			if !conv.Succeeded() || conv.Username() != "user" {
				t.Fatalf("succeeded %v user %q", conv.Succeeded(), conv.Username())
			}
			// mongod's third, empty exchange ends it.
			out, done, err = conv.Step(nil)
			if err != nil || !done || len(out) != 0 {
				t.Fatalf("last step = %q, done %v, err %v", out, done, err)
			}
			if _, _, err := conv.Step(nil); !errors.Is(err, scram.ErrSequence) {
				t.Fatalf("a step after the end: %v, want ErrSequence", err)
			}
		})
	}
}

func TestMongoPasswordDigest(t *testing.T) {
	// From the MongoDB authentication specification.
	if got := scram.MongoPasswordDigest("user", "pencil"); got != "1c33006ec1ffd90f9cadcbcc0e118200" {
		t.Fatalf("digest = %s", got)
	}
}

func TestPasswordPreparation(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, 16)
	// SASLprep maps the soft hyphen to nothing, so both spellings give one SCRAM-SHA-256
	// credential; SCRAM-SHA-1 hashes the bytes as given, so they differ there.
	a, err := scram.SHA256.Derive("u", "I\u00adX", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := scram.SHA256.Derive("u", "IX", salt, 4096)
	if !bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Error("SCRAM-SHA-256 did not apply SASLprep")
	}
	c, _ := scram.SHA1.Derive("u", "I\u00adX", salt, 4096)
	d, _ := scram.SHA1.Derive("u", "IX", salt, 4096)
	if bytes.Equal(c.StoredKey, d.StoredKey) {
		t.Error("SCRAM-SHA-1 prepared the password")
	}
	// The user name is part of SCRAM-SHA-1's password digest, not of SCRAM-SHA-256's.
	e, _ := scram.SHA1.Derive("v", "IX", salt, 4096)
	if bytes.Equal(e.StoredKey, d.StoredKey) {
		t.Error("SCRAM-SHA-1 credential does not depend on the user name")
	}
	if _, err := scram.SHA256.Derive("u", "bell\u0007", salt, 4096); !errors.Is(err, scram.ErrPassword) {
		t.Errorf("a prohibited character: %v, want ErrPassword", err)
	}
	if _, err := scram.SHA1.Derive("u", "x", salt, 0); err == nil {
		t.Error("zero iterations accepted")
	}
}

func TestNewCredentialUsesMongodDefaults(t *testing.T) {
	for _, m := range scram.Mechanisms() {
		c1, err := m.NewCredential("u", "p", nil)
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := m.NewCredential("u", "p", nil)
		if c1.Iterations != m.DefaultIterations() || len(c1.Salt) != m.SaltLen() {
			t.Errorf("%s: iterations %d salt %d bytes", m.Name(), c1.Iterations, len(c1.Salt))
		}
		if bytes.Equal(c1.Salt, c2.Salt) {
			t.Errorf("%s: two credentials share a salt", m.Name())
		}
		if got, ok := scram.ByName(m.Name()); !ok || got != m {
			t.Errorf("ByName(%s) = %v, %v", m.Name(), got, ok)
		}
	}
	if want := []int{10000, 15000}; scram.SHA1.DefaultIterations() != want[0] || scram.SHA256.DefaultIterations() != want[1] {
		t.Error("iteration defaults are not mongod's")
	}
	if _, ok := scram.ByName("PLAIN"); ok {
		t.Error("PLAIN is not a SCRAM mechanism")
	}
}

// runClient drives an independent client implementation (xdg-go/scram, the one the Go driver
// uses) against our server.
func runClient(t *testing.T, mech *scram.Mechanism, user, password string, stored map[string]scram.Credential, skip bool) (*scram.Conversation, error) {
	t.Helper()
	gen := xdg.SHA1
	scramPassword := scram.MongoPasswordDigest(user, password)
	if mech == scram.SHA256 {
		gen = xdg.SHA256
		scramPassword = password
	}
	client, err := gen.NewClientUnprepped(user, scramPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	cc := client.NewConversation()
	conv, err := scram.NewConversation(scram.ServerConfig{
		Mechanism: mech,
		Lookup: func(u string) (scram.Credential, bool) {
			c, ok := stored[u]
			return c, ok
		},
		SkipEmptyExchange: skip,
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cc.Step("")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		out, done, err := conv.Step([]byte(msg))
		if err != nil {
			return conv, err
		}
		if done {
			if !cc.Done() && !skip {
				t.Fatal("server done before the client")
			}
			return conv, nil
		}
		if msg, err = cc.Step(string(out)); err != nil {
			t.Fatalf("client rejected the server: %v", err)
		}
		if cc.Done() && skip {
			t.Fatal("client done but the server is not")
		}
	}
	t.Fatal("conversation did not end in three steps")
	return nil, nil
}

func TestAgainstIndependentClient(t *testing.T) {
	stored := map[string]scram.Credential{}
	for _, u := range []struct{ name, pw string }{{"alice", "s3cret"}, {"odd,user=name", "p,w=x"}} {
		for _, m := range scram.Mechanisms() {
			c, err := m.NewCredential(u.name, u.pw, nil)
			if err != nil {
				t.Fatal(err)
			}
			stored[m.Name()+"/"+u.name] = c
		}
	}
	for _, m := range scram.Mechanisms() {
		forMech := map[string]scram.Credential{}
		for k, v := range stored {
			if name, ok := strings.CutPrefix(k, m.Name()+"/"); ok {
				forMech[name] = v
			}
		}
		tests := []struct {
			name, user, pw string
			skip           bool
			want           error
		}{
			{"right password", "alice", "s3cret", false, nil},
			{"right password, skip empty exchange", "alice", "s3cret", true, nil},
			{"escaped user name", "odd,user=name", "p,w=x", false, nil},
			{"wrong password", "alice", "guess", false, scram.ErrProof},
			{"unknown user", "mallory", "s3cret", false, scram.ErrUnknownUser},
		}
		for _, tc := range tests {
			t.Run(m.Name()+"/"+tc.name, func(t *testing.T) {
				conv, err := runClient(t, m, tc.user, tc.pw, forMech, tc.skip)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				if (err == nil) != conv.Succeeded() {
					t.Fatalf("Succeeded() = %v with err %v", conv.Succeeded(), err)
				}
				if err == nil && conv.Username() != tc.user {
					t.Fatalf("user %q, want %q", conv.Username(), tc.user)
				}
			})
		}
	}
}

func TestMalformedAndRefusedMessages(t *testing.T) {
	cred, err := scram.SHA256.Derive("user", "pencil", []byte("saltsaltsalt"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	newConv := func() *scram.Conversation {
		c, err := scram.NewConversation(scram.ServerConfig{
			Mechanism: scram.SHA256,
			Lookup:    func(u string) (scram.Credential, bool) { return cred, u == "user" },
			Nonce:     func() string { return "SERVER" },
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	firsts := []struct {
		name, msg string
		want      error
	}{
		{"empty", "", scram.ErrMalformed},
		{"no bare message", "n,,", scram.ErrMalformed},
		{"channel binding required", "p=tls-unique,,n=user,r=abc", scram.ErrUnsupported},
		{"unknown binding flag", "x,,n=user,r=abc", scram.ErrMalformed},
		{"other authorization identity", "n,a=admin,n=user,r=abc", scram.ErrUnsupported},
		{"mandatory extension", "n,,n=user,r=abc,m=ext", scram.ErrUnsupported},
		{"nonce first", "n,,r=abc,n=user", scram.ErrMalformed},
		{"bad escape", "n,,n=us=er,r=abc", scram.ErrMalformed},
		{"empty nonce", "n,,n=user,r=", scram.ErrMalformed},
		{"unknown user", "n,,n=nobody,r=abc", scram.ErrUnknownUser},
	}
	for _, tc := range firsts {
		t.Run("first/"+tc.name, func(t *testing.T) {
			c := newConv()
			_, done, err := c.Step([]byte(tc.msg))
			if !errors.Is(err, tc.want) || !done {
				t.Fatalf("err %v done %v, want %v", err, done, tc.want)
			}
			if _, _, err := c.Step([]byte("c=biws,r=abcSERVER,p=AAAA")); !errors.Is(err, scram.ErrSequence) {
				t.Fatalf("a step after a failure: %v", err)
			}
		})
	}
	t.Run("first/matching authorization identity", func(t *testing.T) {
		if _, _, err := newConv().Step([]byte("y,a=user,n=user,r=abc")); err != nil {
			t.Fatal(err)
		}
	})
	finals := []struct {
		name, msg string
		want      error
	}{
		{"no proof", "c=biws,r=abcSERVER", scram.ErrMalformed},
		{"wrong nonce", "c=biws,r=abcOTHER,p=AAAA", scram.ErrNonce},
		{"channel binding changed", "c=eSws,r=abcSERVER,p=AAAA", scram.ErrChannelBinding},
		{"channel binding not base64", "c=!!,r=abcSERVER,p=AAAA", scram.ErrMalformed},
		{"proof not base64", "c=biws,r=abcSERVER,p=!!", scram.ErrMalformed},
		{"short proof", "c=biws,r=abcSERVER,p=AAAA", scram.ErrProof},
		{"wrong proof", "c=biws,r=abcSERVER,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)), scram.ErrProof},
		{"reordered", "r=abcSERVER,c=biws,p=AAAA", scram.ErrMalformed},
	}
	for _, tc := range finals {
		t.Run("final/"+tc.name, func(t *testing.T) {
			c := newConv()
			if _, _, err := c.Step([]byte("n,,n=user,r=abc")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Step([]byte(tc.msg)); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if c.Succeeded() {
				t.Fatal("a bad final message succeeded")
			}
		})
	}
	t.Run("third message not empty", func(t *testing.T) {
		gen, _ := xdg.SHA256.NewClientUnprepped("user", "pencil", "")
		cc := gen.NewConversation()
		c := newConv()
		m1, _ := cc.Step("")
		s1, _, err := c.Step([]byte(m1))
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := cc.Step(string(s1))
		if _, _, err := c.Step([]byte(m2)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Step([]byte("x")); !errors.Is(err, scram.ErrSequence) {
			t.Fatalf("err %v, want ErrSequence", err)
		}
	})
	if _, err := scram.NewConversation(scram.ServerConfig{}); err == nil {
		t.Error("a conversation without mechanism and lookup was created")
	}
}
