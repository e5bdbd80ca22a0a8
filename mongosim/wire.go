package mongosim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Wire opcodes the emulator reads or writes.
const (
	opReply = 1
	opQuery = 2004
	opMsg   = 2013
)

// OP_QUERY and OP_REPLY flag bits.
const (
	flagSecondaryOk  = 1 << 2 // OP_QUERY: the client accepts a secondary's answer
	flagQueryFailure = 1 << 1 // OP_REPLY: the query failed; the document holds $err
)

// OP_MSG flag bits.
const (
	flagChecksumPresent = 1 << 0
	flagMoreToCome      = 1 << 1
	flagExhaustAllowed  = 1 << 16
)

const (
	headerLen = 16
	// maxMessageSize is what hello advertises as maxMessageSizeBytes; anything larger is refused
	// before it is read so a hostile length cannot make us allocate.
	maxMessageSize = 48000000
	maxBSONDepth   = 100
)

// Errors of the wire parser; a connection that produces one is closed.
var (
	errShortMessage   = errors.New("message shorter than its header")
	errBadLength      = errors.New("message length out of range")
	errUnknownOpcode  = errors.New("unsupported opcode")
	errBadSection     = errors.New("malformed op_msg section")
	errBadChecksum    = errors.New("op_msg checksum mismatch")
	errNoBody         = errors.New("op_msg without a body section")
	errBadDocument    = errors.New("malformed bson document")
	errBadQuery       = errors.New("malformed op_query")
	errUnknownSection = errors.New("unknown op_msg section kind")
)

// request is one decoded client message.
type request struct {
	requestID int32
	opCode    int32
	flags     uint32
	// body is the command document (OP_MSG kind 0, or the OP_QUERY query).
	body bson.Raw
	// sequences holds the OP_MSG kind 1 document sequences by identifier.
	sequences map[string][]bson.Raw
	// fullCollectionName is OP_QUERY's namespace (for example "admin.$cmd").
	fullCollectionName string
}

// readRequest reads one framed message; it never allocates more than maxMessageSize.
func readRequest(r io.Reader) (*request, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.LittleEndian.Uint32(hdr[:]))
	if size < headerLen || size > maxMessageSize {
		return nil, fmt.Errorf("read message: %w: %d", errBadLength, size)
	}
	buf := make([]byte, size)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	return parseRequest(buf)
}

// parseRequest decodes a whole message including its header. It is the fuzzing target: any input
// yields a request or an error, never a panic.
func parseRequest(b []byte) (*request, error) {
	if len(b) < headerLen {
		return nil, errShortMessage
	}
	size := int32(binary.LittleEndian.Uint32(b))
	if int(size) != len(b) {
		return nil, errBadLength
	}
	req := &request{
		requestID: int32(binary.LittleEndian.Uint32(b[4:])),
		opCode:    int32(binary.LittleEndian.Uint32(b[12:])),
	}
	payload := b[headerLen:]
	var err error
	switch req.opCode {
	case opMsg:
		err = parseOpMsg(req, b, payload)
	case opQuery:
		err = parseOpQuery(req, payload)
	default:
		return nil, fmt.Errorf("%w %d", errUnknownOpcode, req.opCode)
	}
	if err != nil {
		return nil, err
	}
	return req, nil
}

func parseOpMsg(req *request, whole, p []byte) error {
	if len(p) < 4 {
		return errBadSection
	}
	req.flags = binary.LittleEndian.Uint32(p)
	p = p[4:]
	if req.flags&flagChecksumPresent != 0 {
		if len(p) < 4 {
			return errBadChecksum
		}
		want := binary.LittleEndian.Uint32(p[len(p)-4:])
		if crc32.Checksum(whole[:len(whole)-4], crc32.MakeTable(crc32.Castagnoli)) != want {
			return errBadChecksum
		}
		p = p[:len(p)-4]
	}
	for len(p) > 0 {
		kind := p[0]
		p = p[1:]
		switch kind {
		case 0:
			doc, rest, err := splitDocument(p)
			if err != nil {
				return err
			}
			if req.body != nil {
				return fmt.Errorf("%w: two body sections", errBadSection)
			}
			req.body, p = doc, rest
		case 1:
			if len(p) < 4 {
				return errBadSection
			}
			n := int(int32(binary.LittleEndian.Uint32(p)))
			if n < 5 || n > len(p) {
				return errBadSection
			}
			sec := p[4:n]
			p = p[n:]
			id, docs, err := parseSequence(sec)
			if err != nil {
				return err
			}
			if req.sequences == nil {
				req.sequences = map[string][]bson.Raw{}
			}
			req.sequences[id] = append(req.sequences[id], docs...)
		default:
			return fmt.Errorf("%w %d", errUnknownSection, kind)
		}
	}
	if req.body == nil {
		return errNoBody
	}
	return nil
}

func parseSequence(sec []byte) (string, []bson.Raw, error) {
	id, rest, ok := cstring(sec)
	if !ok {
		return "", nil, errBadSection
	}
	var docs []bson.Raw
	for len(rest) > 0 {
		doc, r, err := splitDocument(rest)
		if err != nil {
			return "", nil, err
		}
		docs = append(docs, doc)
		rest = r
	}
	return id, docs, nil
}

func parseOpQuery(req *request, p []byte) error {
	if len(p) < 4 {
		return errBadQuery
	}
	req.flags = binary.LittleEndian.Uint32(p)
	name, rest, ok := cstring(p[4:])
	if !ok || len(rest) < 8 {
		return errBadQuery
	}
	req.fullCollectionName = name
	doc, _, err := splitDocument(rest[8:])
	if err != nil {
		return err
	}
	req.body = doc
	return nil
}

func cstring(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// splitDocument cuts one fully validated BSON document off the front of b.
func splitDocument(b []byte) (bson.Raw, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errBadDocument
	}
	n := int(int32(binary.LittleEndian.Uint32(b)))
	if n < 5 || n > len(b) {
		return nil, nil, errBadDocument
	}
	doc := bson.Raw(b[:n])
	if err := validateDeep(doc, 0); err != nil {
		return nil, nil, err
	}
	return doc, b[n:], nil
}

// validateDeep checks a document and every nested document or array, because the bson package
// validates only one level and handlers read nested fields.
func validateDeep(doc bson.Raw, depth int) error {
	if depth > maxBSONDepth {
		return fmt.Errorf("%w: nested too deep", errBadDocument)
	}
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", errBadDocument, err)
	}
	elems, err := doc.Elements()
	if err != nil {
		return fmt.Errorf("%w: %w", errBadDocument, err)
	}
	for _, e := range elems {
		v := e.Value()
		switch v.Type {
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			if err := validateDeep(bson.Raw(v.Value), depth+1); err != nil {
				return err
			}
		case bson.TypeCodeWithScope:
			return fmt.Errorf("%w: code with scope refused", errBadDocument)
		}
	}
	return nil
}

// appendOpReply frames doc as an OP_REPLY, the answer to a legacy OP_QUERY.
func appendOpReply(dst []byte, requestID, responseTo int32, flags uint32, doc []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(requestID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(responseTo))
	dst = binary.LittleEndian.AppendUint32(dst, opReply)
	dst = binary.LittleEndian.AppendUint32(dst, flags) // responseFlags
	dst = binary.LittleEndian.AppendUint64(dst, 0)     // cursorID
	dst = binary.LittleEndian.AppendUint32(dst, 0)     // startingFrom
	dst = binary.LittleEndian.AppendUint32(dst, 1)     // numberReturned
	dst = append(dst, doc...)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}

// appendOpMsg frames doc as an OP_MSG with a single kind 0 section.
func appendOpMsg(dst []byte, requestID, responseTo int32, flags uint32, doc []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(requestID))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(responseTo))
	dst = binary.LittleEndian.AppendUint32(dst, opMsg)
	dst = binary.LittleEndian.AppendUint32(dst, flags)
	dst = append(dst, 0)
	dst = append(dst, doc...)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst
}
