// Package scram is the server side of SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) the way
// mongod speaks them, for the emulator: MongoDB's password preparation (SCRAM-SHA-1 first hashes
// "user:mongo:password" with MD5, SCRAM-SHA-256 applies SASLprep), the stored credentials a user
// document in admin.system.users carries, and one server conversation per authentication attempt,
// including mongod's empty third exchange that clients may skip.
//
// It owns the cryptography and the message grammar only: it knows nothing of the wire protocol,
// of where users are stored, or of what an authenticated user may do.
package scram

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/xdg-go/stringprep"
)

// Mechanism is one SCRAM variant: its SASL name, hash, and mongod's defaults for new credentials.
type Mechanism struct {
	name       string
	newHash    func() hash.Hash
	iterations int
	saltLen    int
	// prepare turns a user's password into the SCRAM password.
	prepare func(user, password string) (string, error)
}

var (
	// SHA1 is SCRAM-SHA-1 with MongoDB's pre-hashed password: the SCRAM password is the hex MD5
	// of "user:mongo:password". mongod's default iteration count is 10000 (scramIterationCount)
	// and its salts are 16 bytes.
	SHA1 = &Mechanism{
		name: "SCRAM-SHA-1", newHash: sha1.New, iterations: 10000, saltLen: sha1.Size - 4,
		prepare: func(user, password string) (string, error) { return MongoPasswordDigest(user, password), nil },
	}
	// SHA256 is SCRAM-SHA-256 with a SASLprep'ed password. mongod's default iteration count is
	// 15000 (scramSHA256IterationCount) and its salts are 28 bytes.
	SHA256 = &Mechanism{
		name: "SCRAM-SHA-256", newHash: sha256.New, iterations: 15000, saltLen: sha256.Size - 4,
		prepare: func(_, password string) (string, error) {
			p, err := stringprep.SASLprep.Prepare(password)
			if err != nil {
				return "", fmt.Errorf("%w: %v", ErrPassword, err)
			}
			return p, nil
		},
	}
)

// Mechanisms lists the supported mechanisms in the order mongod advertises them.
func Mechanisms() []*Mechanism { return []*Mechanism{SHA1, SHA256} }

// ByName returns the mechanism called name ("SCRAM-SHA-1" or "SCRAM-SHA-256").
func ByName(name string) (*Mechanism, bool) {
	for _, m := range Mechanisms() {
		if m.name == name {
			return m, true
		}
	}
	return nil, false
}

// Name is the SASL mechanism name.
func (m *Mechanism) Name() string { return m.name }

// DefaultIterations is mongod's iteration count for new credentials of this mechanism.
func (m *Mechanism) DefaultIterations() int { return m.iterations }

// SaltLen is the length in bytes of the salts mongod generates for this mechanism.
func (m *Mechanism) SaltLen() int { return m.saltLen }

// Errors a caller may branch on. A server answers every one of them with the same
// "Authentication failed." so that a client cannot tell an unknown user from a wrong password.
var (
	// ErrPassword is a password the mechanism cannot prepare (SASLprep refuses it).
	ErrPassword = errors.New("scram: password cannot be prepared")
	// ErrMalformed is a client message that does not follow the SCRAM grammar.
	ErrMalformed = errors.New("scram: malformed client message")
	// ErrUnsupported is a feature the server refuses: channel binding ("p="), a foreign
	// authorization identity, or a mandatory extension.
	ErrUnsupported = errors.New("scram: unsupported client request")
	// ErrUnknownUser is a user the lookup does not know, or knows without a credential for this
	// mechanism.
	ErrUnknownUser = errors.New("scram: unknown user")
	// ErrNonce is a client-final message whose nonce is not the one the server sent.
	ErrNonce = errors.New("scram: nonce mismatch")
	// ErrChannelBinding is a client-final message whose c= does not repeat the GS2 header.
	ErrChannelBinding = errors.New("scram: channel binding mismatch")
	// ErrProof is a client proof that does not verify: the wrong password.
	ErrProof = errors.New("scram: client proof does not verify")
	// ErrSequence is a step after the conversation ended or failed, or an unexpected payload.
	ErrSequence = errors.New("scram: step out of sequence")
)

// MongoPasswordDigest is the hex MD5 of "user:mongo:password": what MongoDB uses as the SCRAM-SHA-1
// password (and once used as the MONGODB-CR credential).
func MongoPasswordDigest(user, password string) string {
	sum := md5.Sum([]byte(user + ":mongo:" + password))
	return hex.EncodeToString(sum[:])
}

// Credential is what the server stores for one user and one mechanism: never the password, only
// what verifies a proof (StoredKey) and proves the server knows it (ServerKey).
type Credential struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
}

// PreparePassword turns a user's password into the SCRAM password of this mechanism.
func (m *Mechanism) PreparePassword(user, password string) (string, error) {
	return m.prepare(user, password)
}

// Derive computes the credential of user with password, salt and iteration count.
func (m *Mechanism) Derive(user, password string, salt []byte, iterations int) (Credential, error) {
	p, err := m.prepare(user, password)
	if err != nil {
		return Credential{}, err
	}
	return m.FromSCRAMPassword(p, salt, iterations)
}

// NewCredential derives a credential for user with a fresh salt from random (nil: crypto/rand)
// and mongod's default iteration count.
func (m *Mechanism) NewCredential(user, password string, random io.Reader) (Credential, error) {
	if random == nil {
		random = rand.Reader
	}
	salt := make([]byte, m.saltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return Credential{}, fmt.Errorf("scram: salt: %w", err)
	}
	return m.Derive(user, password, salt, m.iterations)
}

// FromSCRAMPassword computes the credential from an already prepared SCRAM password (RFC 5802
// §3): SaltedPassword = Hi(password, salt, i), StoredKey = H(HMAC(SaltedPassword, "Client Key")),
// ServerKey = HMAC(SaltedPassword, "Server Key").
func (m *Mechanism) FromSCRAMPassword(password string, salt []byte, iterations int) (Credential, error) {
	if iterations < 1 {
		return Credential{}, fmt.Errorf("scram: iteration count %d", iterations)
	}
	salted, err := pbkdf2.Key(m.newHash, password, salt, iterations, m.newHash().Size())
	if err != nil {
		return Credential{}, fmt.Errorf("scram: derive: %w", err)
	}
	clientKey := m.hmac(salted, "Client Key")
	return Credential{
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  m.hash(clientKey),
		ServerKey:  m.hmac(salted, "Server Key"),
	}, nil
}

func (m *Mechanism) hmac(key []byte, msg string) []byte {
	h := hmac.New(m.newHash, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func (m *Mechanism) hash(b []byte) []byte {
	h := m.newHash()
	h.Write(b)
	return h.Sum(nil)
}
