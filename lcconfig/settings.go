package lcconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidSettings is returned for a base settings file Let's Chat could not use or that cannot
// take a database.uri without losing something.
var ErrInvalidSettings = errors.New("invalid base settings")

// SettingsFile is a Let's Chat settings.yml kept in step with the database URI: a user-supplied
// base, every key of which is preserved (secrets.cookie above all: changing it logs every user
// out), with database.uri set to the current URI.
type SettingsFile struct {
	path string
	base []byte
}

// LoadSettings reads and checks the base settings at basePath and returns a SettingsFile that
// writes to path. An empty basePath means an empty base. basePath may equal path: the base is
// read once, here, so later writes do not feed back into it. Nothing is written.
func LoadSettings(basePath, path string) (*SettingsFile, error) {
	if path == "" {
		return nil, fmt.Errorf("settings path: empty")
	}
	var base []byte
	if basePath != "" {
		b, err := os.ReadFile(basePath)
		if err != nil {
			return nil, fmt.Errorf("read base settings: %w", err)
		}
		base = b
	}
	// A probe render proves the base can take a URI before anything runs.
	if _, err := RenderSettings(base, "mongodb://probe:27017/letschat?replicaSet=letschat"); err != nil {
		return nil, fmt.Errorf("base settings %s: %w", basePath, err)
	}
	return &SettingsFile{path: path, base: base}, nil
}

// Path returns the file the settings are written to.
func (f *SettingsFile) Path() string { return f.path }

// Apply writes the base with database.uri set to uri, atomically and with mode 0600, unless the
// file already holds exactly that content; it reports whether it wrote. On error the previous
// file is left as it was.
func (f *SettingsFile) Apply(uri string) (changed bool, err error) {
	content, err := RenderSettings(f.base, uri)
	if err != nil {
		return false, err
	}
	changed, err = writeIfChanged(f.path, content)
	if err != nil {
		return false, fmt.Errorf("write settings: %w", err)
	}
	return changed, nil
}

// RenderSettings returns base with database.uri set to uri (double-quoted), keeping every other
// key, key order and the comments the YAML node API carries. An empty base gives a file with only
// database.uri. A base that is not one YAML mapping, or whose database key is not a mapping, is
// refused with ErrInvalidSettings.
func RenderSettings(base []byte, uri string) ([]byte, error) {
	doc, err := parseSingleDocument(base)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the top level must be a mapping", ErrInvalidSettings)
	}
	database, err := mappingEntry(root, "database")
	if err != nil {
		return nil, err
	}
	uriNode := lookup(database, "uri")
	if uriNode != nil && uriNode.Anchor != "" {
		// Aliases elsewhere would silently take the new URI, or break without the anchor.
		return nil, fmt.Errorf("%w: database.uri must not carry an anchor", ErrInvalidSettings)
	}
	if uriNode == nil {
		uriNode = &yaml.Node{}
		database.Content = append(database.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "uri"}, uriNode)
	}
	// Only the value changes; comments attached to it stay.
	uriNode.Kind, uriNode.Tag, uriNode.Value = yaml.ScalarNode, "!!str", uri
	uriNode.Style, uriNode.Anchor, uriNode.Alias, uriNode.Content = yaml.DoubleQuotedStyle, "", nil, nil

	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return out.Bytes(), nil
}

// parseSingleDocument parses base as Let's Chat's js-yaml safeLoad would accept it: at most one
// document. An empty or comment-only base becomes an empty mapping.
func parseSingleDocument(base []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(base))
	var doc yaml.Node
	err := dec.Decode(&doc)
	switch {
	case errors.Is(err, io.EOF):
		doc = yaml.Node{Kind: yaml.DocumentNode}
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidSettings, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalidSettings)
	}
	if len(doc.Content) == 0 {
		// Keep any head comment a comment-only file had.
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	if root := doc.Content[0]; root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		// "~" or "null" is an empty file to js-yaml's callers (`|| {}`).
		doc.Content[0] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: root.HeadComment}
	}
	return &doc, nil
}

// mappingEntry returns the mapping stored under key in m, creating it when the key is missing or
// null. Any other value, aliases included, is refused: replacing it would lose data.
func mappingEntry(m *yaml.Node, key string) (*yaml.Node, error) {
	value := lookup(m, key)
	switch {
	case value == nil:
		value = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
	case value.Kind == yaml.ScalarNode && value.Tag == "!!null":
		value.Kind, value.Tag, value.Value, value.Style = yaml.MappingNode, "!!map", "", 0
	case value.Kind != yaml.MappingNode:
		return nil, fmt.Errorf("%w: %q must be a mapping", ErrInvalidSettings, key)
	}
	return value, nil
}

// lookup returns the value node stored under key in mapping m, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
