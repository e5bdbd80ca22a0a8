package metadatatest

import (
	"crypto/rand"
	"fmt"
	"strconv"
)

// SetTree replaces the served data with t and moves to a new version, which it returns. Long-polls
// waiting on the old version answer at once. It panics if t holds a Metadata value that cannot
// be encoded as JSON, which is a bug in the caller, not input.
func (s *Server) SetTree(t *Tree) string {
	if err := s.setTree(t); err != nil {
		panic(fmt.Sprintf("metadatatest: %v", err))
	}
	return s.Version()
}

func (s *Server) setTree(t *Tree) error {
	root, err := encodeTree(t)
	if err != nil {
		return err
	}
	metaHost := ""
	if h := t.metadataHost(); h != nil {
		metaHost = h.UUID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root = root
	s.raw = false
	s.metaHostUUID = metaHost
	s.bumpVersionLocked()
	return nil
}

// SetRaw replaces the served data with an arbitrary JSON object, served verbatim: its own
// "version" key (which may be missing or not a string) is the version, and its own "self" key,
// if any, is what every client sees under self/. Without a "self" key, self is resolved as for a
// built tree. It returns an error, and keeps the old data, if body is not a JSON object.
func (s *Server) SetRaw(body []byte) error {
	root, err := decodeObject(body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root = root
	s.raw = true
	old := s.versionStringLocked()
	s.versionValue, s.hasVersion = root["version"]
	if s.versionStringLocked() != old {
		s.wakeLocked()
	}
	return nil
}

// Reload moves to a new version without changing the data, as a v0.10.1+ server does on every
// reload, restart and reconnect, and returns the new version.
func (s *Server) Reload() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bumpVersionLocked()
	return s.versionStringLocked()
}

// SetRandomVersions makes future versions random UUIDv4 strings (on) or counters (off).
func (s *Server) SetRandomVersions(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.RandomVersions = on
}

// Version returns the string form of the current version ("" if the tree has none).
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versionStringLocked()
}

func (s *Server) bumpVersionLocked() {
	s.versionSeq++
	v := strconv.Itoa(s.versionSeq)
	if s.opts.RandomVersions {
		v = randomUUID()
	}
	s.versionValue, s.hasVersion = v, true
	if s.opts.Shuffle && !s.raw {
		s.root = shuffled(s.root)
	}
	s.wakeLocked()
}

func (s *Server) versionStringLocked() string {
	if !s.hasVersion {
		return ""
	}
	return scalarString(s.versionValue)
}

// wakeLocked releases every waiting long-poll so it re-checks the version.
func (s *Server) wakeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
