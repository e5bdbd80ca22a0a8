package lcconfig

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// precedenceCase is one row of testdata/precedence/cases.yml.
type precedenceCase struct {
	Name  string            `yaml:"name"`
	Env   map[string]string `yaml:"env"`
	Files map[string]string `yaml:"files"`
	Want  Resolution        `yaml:"want"`
	Error bool              `yaml:"error"`
}

func loadPrecedenceCases(t *testing.T) []precedenceCase {
	t.Helper()
	var doc struct {
		Cases []precedenceCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(readFixture(t, "precedence/cases.yml"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) < 11 {
		t.Fatalf("only %d golden cases loaded", len(doc.Cases))
	}
	return doc.Cases
}

func (c precedenceCase) files() map[string][]byte {
	files := map[string][]byte{}
	for name, content := range c.Files {
		files[name] = []byte(content)
	}
	return files
}

func TestResolveDatabaseURI_golden(t *testing.T) {
	for _, tc := range loadPrecedenceCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			got, err := ResolveDatabaseURI(tc.Env, tc.files())
			if tc.Error {
				if err == nil {
					t.Fatalf("ResolveDatabaseURI = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.Want {
				t.Fatalf("ResolveDatabaseURI = %+v, want %+v", got, tc.Want)
			}
		})
	}
}
