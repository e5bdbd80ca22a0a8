package agent

import "testing"

func TestProcsFor(t *testing.T) {
	unset := func(string) (string, bool) { return "", false }
	set := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == "GOMAXPROCS" }
	}
	for _, tc := range []struct {
		name   string
		args   []string
		env    func(string) (string, bool)
		want   int
		limits bool
	}{
		{"mongo role", []string{"mongo", "--stack", "x"}, unset, 1, true},
		{"letschat role", []string{"letschat", "--", "npm", "start"}, unset, 1, true},
		{"GOMAXPROCS set wins", []string{"mongo"}, set("4"), 0, false},
		{"GOMAXPROCS unusable: the agent's default", []string{"mongo"}, set("many"), 1, true},
		{"status keeps the runtime's", []string{"status"}, unset, 0, false},
		{"install keeps the runtime's", []string{"install", "/x"}, unset, 0, false},
		{"demo keeps the runtime's", []string{"demo"}, unset, 0, false},
		{"no command", nil, unset, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := procsFor(tc.args, tc.env)
			if n != tc.want || ok != tc.limits {
				t.Fatalf("procsFor(%v) = %d, %v; want %d, %v", tc.args, n, ok, tc.want, tc.limits)
			}
		})
	}
}
