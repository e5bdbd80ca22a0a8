package metadata

import (
	"errors"
	"fmt"
)

// Errors callers branch on. Returned errors wrap them with detail; test with errors.Is.
var (
	// ErrBaseURL means the configured base URL cannot address the metadata API.
	ErrBaseURL = errors.New("invalid metadata base URL")
	// ErrConfig means a WatcherConfig field is out of range.
	ErrConfig = errors.New("invalid watcher config")
	// ErrMalformed means an answer could not be decoded: not JSON, wrong types, or a version that
	// is not a non-empty JSON string.
	ErrMalformed = errors.New("malformed metadata answer")
	// ErrIncomplete means an answer lacks a key every full tree has (version, hosts, services,
	// containers); it is never taken as empty data.
	ErrIncomplete = errors.New("incomplete metadata answer")
	// ErrTooLarge means an answer exceeded WatcherConfig.MaxBodyBytes.
	ErrTooLarge = errors.New("metadata answer too large")
	// ErrServiceNotFound means the snapshot has no service of that name in that stack: the
	// service vanished or the options name the wrong one. It is never an empty topology.
	ErrServiceNotFound = errors.New("service not found in metadata")
	// ErrContainerNotFound means the service has no container of that name or UUID.
	ErrContainerNotFound = errors.New("container not found in service")
	// ErrTopologyOptions means TopologyOptions are missing a name or out of range.
	ErrTopologyOptions = errors.New("invalid topology options")
)

// StatusError is returned when the metadata service answers a request with a status other than
// 200. Path is the request path without the query.
type StatusError struct {
	Code int
	Path string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("metadata answered %d for %s", e.Code, e.Path)
}
