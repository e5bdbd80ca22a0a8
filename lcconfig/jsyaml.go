package lcconfig

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// jsYAMLTags are the tags Let's Chat's parser (js-yaml 3's safeLoad, DEFAULT_SAFE_SCHEMA)
// resolves; any other tag fails its load with "unknown tag".
var jsYAMLTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!binary": true, "!!timestamp": true, "!!merge": true,
	"!!omap": true, "!!pairs": true, "!!set": true,
}

// YAMLError is a settings file Let's Chat's parser would reject, with the line it would name.
type YAMLError struct {
	Line int // 1-based; 0 when unknown
	Msg  string
}

func (e *YAMLError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// checkJSYAML finds what go-yaml accepts and js-yaml 3's safeLoad refuses in a parsed document:
// a key repeated in one mapping (js-yaml compares keys as strings, so 1 and "1" collide; merge
// keys may repeat) and tags outside its safe schema (!!js/function, local !tags).
func checkJSYAML(n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.AliasNode && n.Kind != yaml.DocumentNode && n.Tag != "" && !jsYAMLTags[n.Tag] {
		return &YAMLError{Line: n.Line, Msg: fmt.Sprintf("unknown tag %s: Let's Chat's YAML parser (js-yaml 3 safeLoad) refuses it", n.Tag)}
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				continue
			}
			key := k.Value
			if k.Tag == "!!null" {
				key = "null" // js-yaml's String(null)
			}
			if first, dup := seen[key]; dup {
				return &YAMLError{Line: k.Line, Msg: fmt.Sprintf("duplicated key %q (first at line %d): Let's Chat's YAML parser (js-yaml 3) refuses duplicate keys", key, first)}
			}
			seen[key] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := checkJSYAML(c); err != nil {
			return err
		}
	}
	return nil
}

// yamlError turns a go-yaml parse error ("yaml: line 3: did not find ...") into a YAMLError
// with the line apart.
func yamlError(err error) *YAMLError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return &YAMLError{Msg: msg}
	}
	digits, tail, ok := strings.Cut(rest, ": ")
	n, convErr := strconv.Atoi(digits)
	if !ok || convErr != nil {
		return &YAMLError{Msg: msg}
	}
	return &YAMLError{Line: n, Msg: tail}
}
