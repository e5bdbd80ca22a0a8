package mongors

import (
	"errors"
	"fmt"
)

// Sentinel errors for the MongoDB failures a caller branches on. A *CommandError matches the
// sentinel of its code through errors.Is.
var (
	// ErrUnreachable: the node did not answer (network error, timeout, no server selected).
	ErrUnreachable = errors.New("mongod unreachable")
	// ErrNotPrimary (10107, 13435, 10058): the node is not the writable primary.
	ErrNotPrimary = errors.New("not the writable primary")
	// ErrNotInitialized (94): the node has no replica-set config.
	ErrNotInitialized = errors.New("replica set not initialized")
	// ErrAlreadyInitialized (23): someone initiated the set first.
	ErrAlreadyInitialized = errors.New("replica set already initialized")
	// ErrConfigInProgress (109): another reconfig or initiate is running.
	ErrConfigInProgress = errors.New("reconfig in progress")
	// ErrConfigNotCommitted (308): the current config is not majority-committed yet.
	ErrConfigNotCommitted = errors.New("current config not committed")
	// ErrNotPropagated (50): the reconfig was installed but did not reach a majority in time.
	ErrNotPropagated = errors.New("reconfig not propagated in time")
	// ErrNodeNotFound (74): a quorum check failed or self is missing; retried on a later pass.
	ErrNodeNotFound = errors.New("quorum check failed")
	// ErrNoCaughtUpSecondary (262): a step-down found no electable secondary caught up.
	ErrNoCaughtUpSecondary = errors.New("no electable secondary caught up")
	// ErrInvalidConfig (93): the server rejected the config as invalid.
	ErrInvalidConfig = errors.New("invalid replica set config")
	// ErrIncompatibleConfig (103): the server rejected the config as an unsafe change.
	ErrIncompatibleConfig = errors.New("incompatible replica set config")
	// ErrNodeNotElectable (104): the config would make the primary unelectable.
	ErrNodeNotElectable = errors.New("node not electable")
	// ErrHasData (110): a proposed member holds data; no second set is started over it.
	ErrHasData = errors.New("member has data")
	// ErrUnauthorized (13, 18): the credentials were refused or lack a privilege.
	ErrUnauthorized = errors.New("not authorized")
	// ErrLoginRefused: a node other than the local one refused the login (AuthenticationFailed,
	// 18), and the command was not sent (*LoginRefusedError). mongod gives the same answer for an
	// unknown user and a wrong password, so it means: the node has no users yet, or not this one,
	// or another password. Such a node is sent only hello, which needs no login
	// (ConnConfig.LoginFallback).
	ErrLoginRefused = errors.New("login refused")
)

// mongod's access-control codes the client branches on.
const (
	codeUnauthorized         = 13
	codeAuthenticationFailed = 18
)

var codeSentinels = map[int32]error{
	10107: ErrNotPrimary, 13435: ErrNotPrimary, 10058: ErrNotPrimary,
	94:  ErrNotInitialized,
	23:  ErrAlreadyInitialized,
	109: ErrConfigInProgress,
	308: ErrConfigNotCommitted,
	50:  ErrNotPropagated,
	74:  ErrNodeNotFound,
	262: ErrNoCaughtUpSecondary,
	93:  ErrInvalidConfig,
	103: ErrIncompatibleConfig,
	104: ErrNodeNotElectable,
	110: ErrHasData,
	13:  ErrUnauthorized, 18: ErrUnauthorized,
}

// CommandError is a command the server answered with ok:0. Its text holds the server's message,
// which never contains the client's credentials.
type CommandError struct {
	// Op is the command name, e.g. "replSetReconfig".
	Op string
	// Addr is the node that answered.
	Addr string
	// Code and Name are the server's error code and code name.
	Code int32
	Name string
	// Message is the server's errmsg.
	Message string
}

// Error renders the command, node, code and server message.
func (e *CommandError) Error() string {
	return fmt.Sprintf("%s on %s: %s (%d): %s", e.Op, e.Addr, e.Name, e.Code, e.Message)
}

// Is matches the sentinel error of the code.
func (e *CommandError) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// LoginRefusedError is a command the DriverClient did not send to a node other than the local
// one, because that node refused the login with AuthenticationFailed (ConnConfig.LoginFallback).
type LoginRefusedError struct {
	// Op is the command name and Addr the node.
	Op, Addr string
}

// Error says what was not sent and why, without the user's name.
func (e *LoginRefusedError) Error() string {
	return fmt.Sprintf("%s on %s: not sent: the node refused the login (AuthenticationFailed: no users yet, or not this one)", e.Op, e.Addr)
}

// Is matches ErrLoginRefused and ErrUnauthorized.
func (e *LoginRefusedError) Is(target error) bool {
	return target == ErrLoginRefused || target == ErrUnauthorized
}

// UnreachableError is a command that got no answer from its node.
type UnreachableError struct {
	// Op is the command name and Addr the node it was sent to.
	Op, Addr string
	// Detail is the driver's description with any credential removed.
	Detail string
}

// Error renders the command, node and the redacted cause.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s on %s: unreachable: %s", e.Op, e.Addr, e.Detail)
}

// Is matches ErrUnreachable.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// Retryable reports whether err is worth another pass after a backoff: the node was busy,
// unreachable, not (or no longer) primary, or a quorum was not there yet. Everything the server
// rejects on its merits is not.
func Retryable(err error) bool {
	if err == nil || Rejected(err) {
		return false
	}
	return true
}

// Rejected reports whether the server refused the config itself (93, 103, 104, 110): the same
// proposal must not be sent again unchanged.
func Rejected(err error) bool {
	return errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrIncompatibleConfig) ||
		errors.Is(err, ErrNodeNotElectable) || errors.Is(err, ErrHasData)
}

// ErrorCode returns the server error code in err, or 0 when there is none (network, timeout); a
// login refused is AuthenticationFailed (18).
func ErrorCode(err error) int32 {
	var ce *CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var lr *LoginRefusedError
	if errors.As(err, &lr) {
		return codeAuthenticationFailed
	}
	return 0
}
