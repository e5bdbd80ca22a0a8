package scram

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// nonceLen is the number of random bytes in the server's part of the nonce.
const nonceLen = 24

// Lookup returns the stored credential of username for the conversation's mechanism; ok is false
// when the user does not exist or has no credential for it.
type Lookup func(username string) (cred Credential, ok bool)

// ServerConfig configures one server conversation.
type ServerConfig struct {
	// Mechanism is SHA1 or SHA256; required.
	Mechanism *Mechanism
	// Lookup finds the user named in the client-first message; required.
	Lookup Lookup
	// Nonce returns the server's part of the nonce; nil means 24 random bytes, base64-encoded.
	// Tests fix it to replay published exchanges.
	Nonce func() string
	// SkipEmptyExchange ends the conversation with the server-final message, as mongod does when
	// the client asks for it (saslStart options {skipEmptyExchange: true}). Without it the
	// server-final message is not "done" and the client must send one more, empty, message.
	SkipEmptyExchange bool
}

// Conversation is the server side of one SCRAM authentication. It is not safe for concurrent
// use; a connection runs one at a time.
type Conversation struct {
	cfg   ServerConfig
	step  int
	fail  bool
	ok    bool
	user  string
	cred  Credential
	gs2   string // the client's GS2 header, repeated base64-encoded in c=
	bare  string // client-first-message-bare
	first string // server-first-message
	nonce string // the combined nonce
}

// NewConversation starts a server conversation.
func NewConversation(cfg ServerConfig) (*Conversation, error) {
	if cfg.Mechanism == nil || cfg.Lookup == nil {
		return nil, fmt.Errorf("scram: a conversation needs a mechanism and a lookup")
	}
	if cfg.Nonce == nil {
		cfg.Nonce = randomNonce
	}
	return &Conversation{cfg: cfg}, nil
}

// Username is the user named by the client, once the first message was read.
func (c *Conversation) Username() string { return c.user }

// Succeeded reports whether the client proved it knows the password.
func (c *Conversation) Succeeded() bool { return c.ok }

// Done reports whether the conversation is over, successfully or not.
func (c *Conversation) Done() bool {
	return c.fail || (c.ok && (c.cfg.SkipEmptyExchange || c.step > 2))
}

// Step consumes one client message and returns the server's answer and whether the conversation
// is complete. Any error ends the conversation: later steps return ErrSequence.
func (c *Conversation) Step(in []byte) (out []byte, done bool, err error) {
	if c.fail || c.Done() {
		return nil, true, ErrSequence
	}
	var s string
	switch c.step {
	case 0:
		s, err = c.clientFirst(string(in))
	case 1:
		s, err = c.clientFinal(string(in))
	case 2:
		if len(in) != 0 {
			err = fmt.Errorf("%w: the last message must be empty", ErrSequence)
		}
	}
	c.step++
	if err != nil {
		c.fail = true
		return nil, true, err
	}
	return []byte(s), c.Done(), nil
}

// clientFirst reads "gs2-header client-first-message-bare" and answers the server-first message.
func (c *Conversation) clientFirst(msg string) (string, error) {
	// gs2-header = cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return "", fmt.Errorf("%w: no GS2 header", ErrMalformed)
	}
	switch {
	case flag == "n", flag == "y":
	case strings.HasPrefix(flag, "p="):
		return "", fmt.Errorf("%w: channel binding", ErrUnsupported)
	default:
		return "", fmt.Errorf("%w: channel binding flag %q", ErrMalformed, flag)
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", fmt.Errorf("%w: GS2 header not terminated", ErrMalformed)
	}
	c.gs2 = flag + "," + authz + ","
	c.bare = bare
	attrs, err := parseAttrs(bare)
	if err != nil {
		return "", err
	}
	if len(attrs) < 2 || attrs[0].key != 'n' || attrs[1].key != 'r' {
		return "", fmt.Errorf("%w: client-first must start with n= and r=", ErrMalformed)
	}
	for _, a := range attrs[2:] {
		if a.key == 'm' {
			return "", fmt.Errorf("%w: mandatory extension", ErrUnsupported)
		}
	}
	user, err := decodeName(attrs[0].val)
	if err != nil || user == "" {
		return "", fmt.Errorf("%w: user name", ErrMalformed)
	}
	if authz != "" {
		az, err := decodeName(strings.TrimPrefix(authz, "a="))
		if !strings.HasPrefix(authz, "a=") || err != nil {
			return "", fmt.Errorf("%w: authzid", ErrMalformed)
		}
		if az != user {
			return "", fmt.Errorf("%w: authorization identity differs from the user", ErrUnsupported)
		}
	}
	cnonce := attrs[1].val
	if cnonce == "" {
		return "", fmt.Errorf("%w: empty client nonce", ErrMalformed)
	}
	c.user = user
	cred, ok := c.cfg.Lookup(user)
	if !ok {
		return "", ErrUnknownUser
	}
	c.cred = cred
	c.nonce = cnonce + c.cfg.Nonce()
	c.first = "r=" + c.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return c.first, nil
}

// clientFinal reads "c=..,r=..[,ext],p=.." and, when the proof verifies, answers "v=<signature>".
func (c *Conversation) clientFinal(msg string) (string, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return "", fmt.Errorf("%w: no proof", ErrMalformed)
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	attrs, err := parseAttrs(withoutProof)
	if err != nil {
		return "", err
	}
	if len(attrs) < 2 || attrs[0].key != 'c' || attrs[1].key != 'r' {
		return "", fmt.Errorf("%w: client-final must start with c= and r=", ErrMalformed)
	}
	cbind, err := base64.StdEncoding.DecodeString(attrs[0].val)
	if err != nil {
		return "", fmt.Errorf("%w: channel binding is not base64", ErrMalformed)
	}
	if string(cbind) != c.gs2 {
		return "", ErrChannelBinding
	}
	if attrs[1].val != c.nonce {
		return "", ErrNonce
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		return "", fmt.Errorf("%w: proof is not base64", ErrMalformed)
	}
	m := c.cfg.Mechanism
	authMessage := c.bare + "," + c.first + "," + withoutProof
	clientSig := m.hmac(c.cred.StoredKey, authMessage)
	if len(proof) != len(clientSig) {
		return "", ErrProof
	}
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSig)
	if !hmac.Equal(m.hash(clientKey), c.cred.StoredKey) {
		return "", ErrProof
	}
	c.ok = true
	return "v=" + base64.StdEncoding.EncodeToString(m.hmac(c.cred.ServerKey, authMessage)), nil
}

func randomNonce() string {
	raw := make([]byte, nonceLen)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	return base64.StdEncoding.EncodeToString(raw)
}

type attr struct {
	key byte
	val string
}

// parseAttrs splits "k=v,k=v" where every key is one letter.
func parseAttrs(s string) ([]attr, error) {
	var out []attr
	for _, part := range strings.Split(s, ",") {
		if len(part) < 2 || part[1] != '=' || part[0] < 'a' || part[0] > 'z' {
			return nil, fmt.Errorf("%w: attribute %q", ErrMalformed, part)
		}
		out = append(out, attr{key: part[0], val: part[2:]})
	}
	return out, nil
}

// decodeName undoes SCRAM's saslname escaping: "=2C" is ",", "=3D" is "=", and no other "=" may
// appear.
func decodeName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad escape in name", ErrMalformed)
		}
		i += 2
	}
	return b.String(), nil
}
