package docstore

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Error codes docstore reports, numbered and named as mongod's.
const (
	CodeBadValue                   int32 = 2
	CodeFailedToParse              int32 = 9
	CodeTypeMismatch               int32 = 14
	CodeNamespaceNotFound          int32 = 26
	CodePathNotViable              int32 = 28
	CodeConflictingUpdateOperators int32 = 40
	CodeNamespaceExists            int32 = 48
	CodeDollarPrefixedFieldName    int32 = 52
	CodeImmutableField             int32 = 66
	CodeInvalidNamespace           int32 = 73
	CodeIndexOptionsConflict       int32 = 85
	CodeIndexKeySpecsConflict      int32 = 86
	CodeDuplicateKey               int32 = 11000
	CodeInvalidRegex               int32 = 51091
	CodeUnknownPipelineStage       int32 = 40324
	CodeProjectionExclusion        int32 = 31254
	CodeProjectionInclusion        int32 = 31253
	CodeProjectionPathCollision    int32 = 31250
)

// CodeNames maps each code above to mongod's codeName.
var CodeNames = map[int32]string{
	CodeBadValue:                   "BadValue",
	CodeFailedToParse:              "FailedToParse",
	CodeTypeMismatch:               "TypeMismatch",
	CodeNamespaceNotFound:          "NamespaceNotFound",
	CodePathNotViable:              "PathNotViable",
	CodeConflictingUpdateOperators: "ConflictingUpdateOperators",
	CodeNamespaceExists:            "NamespaceExists",
	CodeDollarPrefixedFieldName:    "DollarPrefixedFieldName",
	CodeImmutableField:             "ImmutableField",
	CodeInvalidNamespace:           "InvalidNamespace",
	CodeIndexOptionsConflict:       "IndexOptionsConflict",
	CodeIndexKeySpecsConflict:      "IndexKeySpecsConflict",
	CodeDuplicateKey:               "DuplicateKey",
	CodeInvalidRegex:               "Location51091",
	CodeUnknownPipelineStage:       "Location40324",
	CodeProjectionExclusion:        "Location31254",
	CodeProjectionInclusion:        "Location31253",
	CodeProjectionPathCollision:    "Location31250",
}

// Error is a failure as mongod reports it: a code, its codeName and a message. A duplicate key
// also carries the index's key pattern and the offending key, as mongod adds them to the error.
type Error struct {
	Code       int32
	Message    string
	KeyPattern bson.D
	KeyValue   bson.D
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", CodeNames[e.Code], e.Code, e.Message)
}

func errorf(code int32, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// notEmulated refuses a feature the emulator does not implement, so that a client never gets a
// half-right answer; the message says it is the emulator's limit, not MongoDB's.
func notEmulated(format string, args ...any) *Error {
	return &Error{Code: CodeBadValue, Message: fmt.Sprintf(format, args...) + " (not emulated by mongosim)"}
}
