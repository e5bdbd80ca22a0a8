package mongosim

import (
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoDB error codes the emulator answers with; names follow the server's codeName.
const (
	CodeBadValue                               int32 = 2
	CodeFailedToParse                          int32 = 9
	CodeTypeMismatch                           int32 = 14
	CodeAlreadyInitialized                     int32 = 23
	CodeMaxTimeMSExpired                       int32 = 50
	CodeCommandNotFound                        int32 = 59
	CodeWriteConcernFailed                     int32 = 64
	CodeNodeNotFound                           int32 = 74
	CodeNoReplicationEnabled                   int32 = 76
	CodeInvalidReplicaSetConfig                int32 = 93
	CodeNotYetInitialized                      int32 = 94
	CodeNewReplicaSetConfigurationIncompatible int32 = 103
	CodeNodeNotElectable                       int32 = 104
	CodeConfigurationInProgress                int32 = 109
	CodeCannotInitializeNodeWithData           int32 = 110
	CodeExceededTimeLimit                      int32 = 262
	CodeCurrentConfigNotCommittedYet           int32 = 308
	CodeDuplicateKey                           int32 = 11000
	CodeInterruptedDueToReplStateChange        int32 = 11602
	CodeNotWritablePrimary                     int32 = 10107
	CodeNotPrimaryNoSecondaryOk                int32 = 13435
	CodeNotPrimaryOrSecondary                  int32 = 13436
)

var codeNames = map[int32]string{
	CodeBadValue:                               "BadValue",
	CodeFailedToParse:                          "FailedToParse",
	CodeTypeMismatch:                           "TypeMismatch",
	CodeAlreadyInitialized:                     "AlreadyInitialized",
	CodeMaxTimeMSExpired:                       "MaxTimeMSExpired",
	CodeCommandNotFound:                        "CommandNotFound",
	CodeWriteConcernFailed:                     "WriteConcernFailed",
	CodeNodeNotFound:                           "NodeNotFound",
	CodeNoReplicationEnabled:                   "NoReplicationEnabled",
	CodeInvalidReplicaSetConfig:                "InvalidReplicaSetConfig",
	CodeNotYetInitialized:                      "NotYetInitialized",
	CodeNewReplicaSetConfigurationIncompatible: "NewReplicaSetConfigurationIncompatible",
	CodeNodeNotElectable:                       "NodeNotElectable",
	CodeConfigurationInProgress:                "ConfigurationInProgress",
	CodeCannotInitializeNodeWithData:           "CannotInitializeNodeWithData",
	CodeExceededTimeLimit:                      "ExceededTimeLimit",
	CodeCurrentConfigNotCommittedYet:           "CurrentConfigNotCommittedYet",
	CodeDuplicateKey:                           "DuplicateKey",
	CodeInterruptedDueToReplStateChange:        "InterruptedDueToReplStateChange",
	CodeNotWritablePrimary:                     "NotWritablePrimary",
	CodeNotPrimaryNoSecondaryOk:                "NotPrimaryNoSecondaryOk",
	CodeNotPrimaryOrSecondary:                  "NotPrimaryOrSecondary",
}

// CodeName returns the server's codeName for code, or "" when the emulator does not know it.
func CodeName(code int32) string { return codeNames[code] }

// CommandError is a command failure as mongod reports it: {ok:0, errmsg, code, codeName} plus
// any extra fields (for example info or topologyVersion).
type CommandError struct {
	Code    int32
	Message string
	Extra   bson.D
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s (%d): %s", CodeName(e.Code), e.Code, e.Message)
}

func cmdErr(code int32, format string, args ...any) *CommandError {
	return &CommandError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// reply renders the error as the document mongod sends: code is int32 because the driver ignores
// any other type.
func (e *CommandError) reply() bson.D {
	d := bson.D{}
	d = append(d, e.Extra...)
	return append(d,
		bson.E{Key: "ok", Value: 0.0},
		bson.E{Key: "errmsg", Value: e.Message},
		bson.E{Key: "code", Value: e.Code},
		bson.E{Key: "codeName", Value: CodeName(e.Code)},
	)
}

// Control-API errors a caller may branch on.
var (
	// ErrUnknownNode is returned for an address that no node was ever started at.
	ErrUnknownNode = errors.New("mongosim: unknown node")
	// ErrClosed is returned once the cluster has been closed.
	ErrClosed = errors.New("mongosim: cluster closed")
	// ErrNodeRunning is returned by operations that need a stopped node.
	ErrNodeRunning = errors.New("mongosim: node is running")
)
