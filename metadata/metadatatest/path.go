package metadatatest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// lookup walks segs down from v. Arrays are addressed by index, or by the "name" or "uuid" of an
// object element, as the real server does.
func lookup(v any, segs []string) (any, bool) {
	for _, seg := range segs {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[seg]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			next, ok := element(node, seg)
			if !ok {
				return nil, false
			}
			v = next
		default:
			return nil, false
		}
	}
	return v, true
}

func element(list []any, seg string) (any, bool) {
	if i, err := strconv.Atoi(seg); err == nil {
		if i >= 0 && i < len(list) {
			return list[i], true
		}
		return nil, false
	}
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if obj["name"] == seg || obj["uuid"] == seg {
			return e, true
		}
	}
	return nil, false
}

// renderText formats v the way the real server answers text/plain: scalars raw, maps as sorted
// keys with "/" after nested values, arrays as "idx=name" (or "idx/" and "idx") lines.
func renderText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		lines := make([]string, 0, len(x))
		for k, e := range x {
			line := url.QueryEscape(k)
			if isNested(e) {
				line += "/"
			}
			lines = append(lines, line+"\n")
		}
		sort.Strings(lines)
		return strings.Join(lines, "")
	case []any:
		var b strings.Builder
		for i, e := range x {
			if obj, ok := e.(map[string]any); ok {
				if name, ok := obj["name"].(string); ok {
					fmt.Fprintf(&b, "%d=%s\n", i, url.QueryEscape(name))
					continue
				}
			}
			if isNested(e) {
				fmt.Fprintf(&b, "%d/\n", i)
			} else {
				fmt.Fprintf(&b, "%d\n", i)
			}
		}
		return b.String()
	default:
		return fmt.Sprint(x)
	}
}

func isNested(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// scalarString is the "string form" the long-poll compares with value=.
func scalarString(v any) string {
	if isNested(v) {
		b, _ := json.Marshal(v)
		return string(b)
	}
	return renderText(v)
}
