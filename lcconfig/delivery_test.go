package lcconfig

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheckDelivery(t *testing.T) {
	tests := []struct {
		name  string
		check DeliveryCheck
		want  []Source
	}{
		{
			name:  "env delivery, clean environment",
			check: DeliveryCheck{Mode: DeliverEnv, Env: map[string]string{"LCB_DATABASE_URI": testURI}},
		},
		{
			name:  "env delivery, hosting variables win",
			check: DeliveryCheck{Mode: DeliverEnv, Env: map[string]string{"MONGOHQ_URL": "mongodb://h/x", "MONGODB_URI": "mongodb://c/x", "LCB_DATABASE_URI": testURI}},
			want:  []Source{SourceMongoDB, SourceMongoHQ},
		},
		{
			name:  "env delivery, empty hosting variables are harmless",
			check: DeliveryCheck{Mode: DeliverEnv, Env: map[string]string{"MONGODB_URI": "", "MONGOLAB_URI": ""}},
		},
		{
			name:  "env delivery, OpenShift",
			check: DeliveryCheck{Mode: DeliverEnv, Env: map[string]string{"OPENSHIFT_APP_NAME": "chat"}},
			want:  []Source{SourceOpenShift},
		},
		{
			name:  "settings delivery, the image's baked LCB_DATABASE_URI",
			check: DeliveryCheck{Mode: DeliverSettings, Env: map[string]string{"LCB_DATABASE_URI": "mongodb://mongo/letschat"}, SettingsPath: "config/settings.yml"},
			want:  []Source{SourceLCB},
		},
		{
			name:  "settings delivery, blanked LCB_DATABASE_URI",
			check: DeliveryCheck{Mode: DeliverSettings, Env: map[string]string{"LCB_DATABASE_URI": ""}, SettingsPath: "config/settings.yml", Present: []string{"settings.yml"}},
		},
		{
			name:  "settings delivery to settings.yml shadowed by config/settings.yml",
			check: DeliveryCheck{Mode: DeliverSettings, SettingsPath: "./settings.yml", Present: []string{"config/settings.yml"}},
			want:  []Source{SourceConfigSettings},
		},
		{
			name:  "settings delivery to a path Let's Chat never reads",
			check: DeliveryCheck{Mode: DeliverSettings, SettingsPath: "../etc/settings.yml"},
			want:  []Source{SourceDefault},
		},
		{
			name: "settings delivery, everything wrong at once, highest precedence first",
			check: DeliveryCheck{Mode: DeliverSettings, SettingsPath: "settings.yml", Present: []string{"config/settings.yml"}, Env: map[string]string{
				"OPENSHIFT_APP_NAME": "chat-app", "MONGOLAB_URI": "mongodb://b/x", "LCB_DATABASE_URI": "mongodb://mongo/letschat",
			}},
			want: []Source{SourceOpenShift, SourceMongoLab, SourceLCB, SourceConfigSettings},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckDelivery(tc.check)
			var sources []Source
			for _, o := range got {
				sources = append(sources, o.Source)
				if !strings.Contains(o.Message, "unset") && !strings.Contains(o.Message, "set LCB_DATABASE_URI=") && !strings.Contains(o.Message, "write config/settings.yml") {
					t.Errorf("message gives no fix: %q", o.Message)
				}
				for _, v := range tc.check.Env {
					if v != "" && strings.Contains(o.Message, v) && v != "mongodb://mongo/letschat" {
						t.Errorf("message repeats the value %q: %q", v, o.Message)
					}
				}
			}
			if fmt.Sprint(sources) != fmt.Sprint(tc.want) {
				t.Fatalf("CheckDelivery sources = %v, want %v", sources, tc.want)
			}
		})
	}
}

// TestCheckDelivery_agreesWithResolve runs every combination of overriding variables, settings
// targets and shadowing files through both the warning check and the model of Let's Chat: the
// check is silent exactly when Let's Chat would connect with what we deliver.
func TestCheckDelivery_agreesWithResolve(t *testing.T) {
	variables := []string{"OPENSHIFT_APP_NAME", "MONGODB_URI", "MONGOLAB_URI", "MONGOHQ_URL", "LCB_DATABASE_URI"}
	const ours = "mongodb://10.0.0.1:27017/letschat?replicaSet=letschat"
	combos := 0
	for mask := range 243 { // each variable absent, empty or set: 3^5
		env := map[string]string{}
		m := mask
		for _, v := range variables {
			switch m % 3 {
			case 1:
				env[v] = ""
			case 2:
				env[v] = "mongodb://" + strings.ToLower(v) + "/x"
			}
			m /= 3
		}
		envMode := map[string]string{}
		for k, v := range env {
			envMode[k] = v
		}
		envMode["LCB_DATABASE_URI"] = ours // the supervisor always sets it in env mode
		cases := []struct {
			check DeliveryCheck
			files map[string][]byte
		}{{DeliveryCheck{Mode: DeliverEnv, Env: envMode}, map[string][]byte{"settings.yml": []byte("database:\n  uri: mongodb://file/x\n")}}}
		for _, target := range []string{"config/settings.yml", "settings.yml"} {
			for _, other := range []string{"", "config/settings.yml", "settings.yml"} {
				files := map[string][]byte{target: []byte(`database: {uri: "` + ours + `"}`)}
				var present []string
				if other != "" && other != target {
					files[other] = []byte("database:\n  uri: mongodb://other/x\n")
					present = []string{other}
				}
				cases = append(cases, struct {
					check DeliveryCheck
					files map[string][]byte
				}{DeliveryCheck{Mode: DeliverSettings, Env: env, SettingsPath: target, Present: present}, files})
			}
		}
		for _, c := range cases {
			combos++
			res, err := ResolveDatabaseURI(c.check.Env, c.files)
			if err != nil {
				t.Fatal(err)
			}
			overrides := CheckDelivery(c.check)
			if (len(overrides) == 0) != (res.URI == ours) {
				t.Fatalf("env %v, mode %v, target %s, present %v: Let's Chat uses %s from %s, but the check says %v",
					c.check.Env, c.check.Mode, c.check.SettingsPath, c.check.Present, res.URI, res.Source, overrides)
			}
		}
	}
	t.Logf("%d combinations agree", combos)
}
