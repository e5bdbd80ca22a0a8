package lcconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidSettings is returned for a base settings file Let's Chat could not use or that cannot
// take a database.uri without losing something.
var ErrInvalidSettings = errors.New("invalid base settings")

// SettingsFile is a Let's Chat settings.yml kept in step with the database URI: a user-supplied
// base, every key of which is preserved, with database.uri set to the current URI and, when the
// supervisor delivers one, secrets.cookie set to the cookie secret.
//
// The base is read once, by LoadSettings: Let's Chat reads its settings only when it starts, so a
// base edited while the agent runs would reach each instance at a different moment, with its next
// restart. A changed base takes effect when the agent (its container) is restarted.
type SettingsFile struct {
	path       string
	base       []byte
	baseCookie string // the base's secrets.cookie, when it is a string
	cookie     string // the cookie secret to write; empty keeps the base's
}

// LoadSettings reads and checks the base settings at basePath and returns a SettingsFile that
// writes to path. An empty basePath means an empty base. basePath may equal path: the base is
// read once, here, so later writes do not feed back into it. A base Let's Chat's own parser
// (js-yaml 3) would reject, or that cannot take a URI, is refused with an error naming the file
// and line. Nothing is written.
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
	doc, err := renderNode(base, "mongodb://probe:27017/letschat?replicaSet=letschat", "")
	if err != nil {
		var ye *YAMLError
		if errors.As(err, &ye) && ye.Line > 0 {
			return nil, fmt.Errorf("%w: %s:%d: %s", ErrInvalidSettings, basePath, ye.Line, ye.Msg)
		}
		return nil, fmt.Errorf("base settings %s: %w", basePath, err)
	}
	f := &SettingsFile{path: path, base: base}
	if secrets := lookup(doc.Content[0], "secrets"); secrets != nil && secrets.Kind == yaml.MappingNode {
		if c := lookup(secrets, "cookie"); c != nil && c.Kind == yaml.ScalarNode && c.Tag == "!!str" {
			f.baseCookie = c.Value
		}
	}
	return f, nil
}

// Path returns the file the settings are written to.
func (f *SettingsFile) Path() string { return f.path }

// withCookie returns a copy of f that also writes secrets.cookie; empty keeps the base's.
func (f *SettingsFile) withCookie(secret string) *SettingsFile {
	g := *f
	g.cookie = secret
	return &g
}

// replacesBaseCookie reports whether the written secrets.cookie differs from a value the base had.
func (f *SettingsFile) replacesBaseCookie() bool {
	return f.cookie != "" && f.baseCookie != "" && f.cookie != f.baseCookie
}

// prepareDir creates the settings file's directory when it is missing: a git checkout of Let's
// Chat has no config/, which the official image declares as a volume.
func (f *SettingsFile) prepareDir() error {
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create the settings directory %s (Let's Chat reads config/settings.yml from its working directory): %w; create it writable for this user, or mount a writable volume there", dir, errors.Unwrap(err))
	}
	return nil
}

// Apply writes the base with database.uri set to uri (and secrets.cookie, when set),
// atomically and with mode 0600, unless the file already holds exactly that content; it reports
// whether it wrote. A missing directory is created. On error the previous file is left as it was.
func (f *SettingsFile) Apply(uri string) (changed bool, err error) {
	doc, err := renderNode(f.base, uri, f.cookie)
	if err != nil {
		return false, err
	}
	content, err := encodeSettings(doc)
	if err != nil {
		return false, err
	}
	if err := f.prepareDir(); err != nil {
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
// database.uri. A base that is not one YAML mapping, whose database key is not a mapping, or that
// Let's Chat's parser would reject (a *YAMLError), is refused with ErrInvalidSettings.
func RenderSettings(base []byte, uri string) ([]byte, error) {
	doc, err := renderNode(base, uri, "")
	if err != nil {
		return nil, err
	}
	return encodeSettings(doc)
}

// renderNode parses base and sets database.uri, and secrets.cookie when cookie is not empty.
func renderNode(base []byte, uri, cookie string) (*yaml.Node, error) {
	doc, err := parseSingleDocument(base)
	if err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: the top level must be a mapping", ErrInvalidSettings)
	}
	if err := setString(root, "database", "uri", uri); err != nil {
		return nil, err
	}
	if cookie != "" {
		if err := setString(root, "secrets", "cookie", cookie); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// setString sets section.key in root to a double-quoted string, so js-yaml reads it as one.
func setString(root *yaml.Node, section, key, value string) error {
	m, err := mappingEntry(root, section)
	if err != nil {
		return err
	}
	node := lookup(m, key)
	if node != nil && node.Anchor != "" {
		// Aliases elsewhere would silently take the new value, or break without the anchor.
		return fmt.Errorf("%w: %s.%s must not carry an anchor", ErrInvalidSettings, section, key)
	}
	if node == nil {
		node = &yaml.Node{}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, node)
	}
	// Only the value changes; comments attached to it stay.
	node.Kind, node.Tag, node.Value = yaml.ScalarNode, "!!str", value
	node.Style, node.Anchor, node.Alias, node.Content = yaml.DoubleQuotedStyle, "", nil, nil
	return nil
}

// encodeSettings writes a settings document with two-space indents.
func encodeSettings(doc *yaml.Node) ([]byte, error) {
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
		return nil, fmt.Errorf("%w: %w", ErrInvalidSettings, yamlError(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSettings, &YAMLError{Line: extra.Line, Msg: "more than one YAML document: Let's Chat's parser expects a single one"})
	}
	if err := checkJSYAML(&doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSettings, err)
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

// HasCookieSecret reports whether the base's own secrets.cookie is usable (see CheckCookieSecret).
func (f *SettingsFile) HasCookieSecret() bool { return CheckCookieSecret(f.baseCookie) == nil }

// Base returns the base settings as read by LoadSettings.
func (f *SettingsFile) Base() []byte { return f.base }
