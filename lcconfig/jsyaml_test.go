package lcconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLoadSettings_likeJSYAML checks LoadSettings against what js-yaml 3.15.2's safeLoad, Let's
// Chat's parser, did with each file of testdata/jsyaml (see its README): the files it refused are
// refused, naming the file and the line it named; the ones it read are accepted.
func TestLoadSettings_likeJSYAML(t *testing.T) {
	tests := []struct {
		file string
		line int    // 0: js-yaml accepts it
		want string // part of the message
	}{
		{"anchor-redefine.yml", 0, ""},
		{"binary.yml", 0, ""},
		{"complex-key.yml", 0, ""},
		{"core-tags.yml", 0, ""},
		{"directive.yml", 0, ""},
		{"dup-flow.yml", 1, `duplicated key "x"`},
		{"dup-merge.yml", 0, ""},
		{"dup-nested.yml", 3, `duplicated key "port" (first at line 2)`},
		{"dup-num-str.yml", 2, `duplicated key "1"`},
		{"dup-top.yml", 3, `duplicated key "database" (first at line 1)`},
		{"js-tag.yml", 1, "unknown tag !!js/function"},
		{"local-tag.yml", 1, "unknown tag !foo"},
		{"merge.yml", 0, ""},
		{"null-key.yml", 0, ""},
		{"omap.yml", 0, ""},
		{"set.yml", 0, ""},
		{"ts.yml", 0, ""},
		{"two-docs.yml", 2, "more than one YAML document"},
		{"verbatim.yml", 0, ""},
		{"yaml11.yml", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", "jsyaml", tc.file)
			_, err := LoadSettings(path, filepath.Join(t.TempDir(), "settings.yml"))
			if tc.line == 0 {
				if err != nil {
					t.Fatalf("js-yaml reads it, LoadSettings refuses it: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("js-yaml refuses it, LoadSettings accepts it")
			}
			if !errors.Is(err, ErrInvalidSettings) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrInvalidSettings mentioning %q", err, tc.want)
			}
			if at := path + ":" + strconv.Itoa(tc.line) + ":"; !strings.Contains(err.Error(), at) {
				t.Fatalf("error %q does not name %s", err, at)
			}
		})
	}
	// js-yaml accepts a tab after the indentation; go-yaml does not. Refusing a file Let's Chat
	// would read is the safe side of the difference, and the error names the line.
	_, err := LoadSettings(filepath.Join("testdata", "jsyaml", "tab.yml"), filepath.Join(t.TempDir(), "s.yml"))
	if err != nil && !strings.Contains(err.Error(), "tab.yml:") {
		t.Fatalf("tab.yml refused without a line: %v", err)
	}
}

// The settings written with a duplicate key in the base would be refused by Let's Chat at start:
// the old code wrote them.
func TestRenderSettings_refusesWhatLetsChatRefuses(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "jsyaml", "dup-top.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RenderSettings(base, testURI); !errors.Is(err, ErrInvalidSettings) {
		t.Fatalf("RenderSettings = %v, want ErrInvalidSettings", err)
	}
}
