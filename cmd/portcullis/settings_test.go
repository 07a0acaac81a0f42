package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// errProbed ends a command that loadAs ran once its configuration is loaded.
var errProbed = errors.New("configuration loaded")

// loadAs runs portcullis with args as far as its command's loadConfig and returns the
// configuration that loaded (a pointer to the command's settings struct), without running the
// command; or the error that came first.
func loadAs(t *testing.T, args ...string) (any, error) {
	t.Helper()
	root := newRootCmd()
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	var got any
	probe := configProbe(func(_ *cobra.Command, out any) error {
		got = out
		return errProbed
	})
	err := root.ExecuteContext(context.WithValue(t.Context(), configProbeKey{}, probe))
	if errors.Is(err, errProbed) {
		return got, nil
	}
	if err == nil {
		err = errors.New("the command ran without loading its configuration")
	}
	return nil, err
}

// configCommand is a command that has --config, with positional arguments it accepts.
type configCommand struct {
	path []string // as given to the root command
	args []string
	cmd  *cobra.Command
}

// configCommands lists every command that has --config.
func configCommands(t *testing.T) []configCommand {
	t.Helper()
	var out []configCommand
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("config") != nil {
			cc := configCommand{path: strings.Fields(c.CommandPath())[1:], cmd: c}
			found := false
			for _, args := range [][]string{nil, {"a"}, {"a", "b"}} {
				if c.ValidateArgs(args) == nil {
					cc.args, found = args, true
					break
				}
			}
			if !found {
				t.Fatalf("%s: no positional arguments it accepts", c.CommandPath())
			}
			out = append(out, cc)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if len(out) < 20 {
		t.Fatalf("only %d commands have --config", len(out))
	}
	return out
}

// settingFlags are the flags of c that are settings: all but --config, --help and renamed ones.
func settingFlags(c *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" && f.Name != oldCMFlag {
			out = append(out, f)
		}
	})
	return out
}

// sample is a value for flag f that is not its default, as a PORTCULLIS_* variable, as YAML,
// and as the field it decodes into prints (fmt.Sprint).
func sample(t *testing.T, f *pflag.Flag) (env, yaml, want string) {
	t.Helper()
	switch f.Value.Type() {
	case "string":
		return "s-" + f.Name, fmt.Sprintf("%q", "s-"+f.Name), "s-" + f.Name
	case "bool":
		if f.DefValue == "true" {
			return "false", "false", "false"
		}
		return "true", "true", "true"
	case "boolfunc": // optionalBool: the field holds its text (YAML's bare true arrives as 1)
		return "true", `"true"`, "true"
	case "int":
		return "7", "7", "7"
	case "float64":
		return "0.25", "0.25", "0.25"
	case "duration":
		return "7s", "7s", "7s"
	case "stringSlice", "stringArray":
		return "a,b", "[a, b]", "[a b]"
	case "stringToString":
		return "k=v,x=y", "{k: v, x: y}", "map[k:v x:y]"
	}
	t.Fatalf("--%s: no sample value of type %s: add one", f.Name, f.Value.Type())
	return "", "", ""
}

// settingValue is the field of the settings struct out that setting key decodes into, looked
// up by its mapstructure tag, through squashed embedded structs.
func settingValue(out reflect.Value, key string) (reflect.Value, bool) {
	for i := range out.NumField() {
		field := out.Type().Field(i)
		tag := field.Tag.Get("mapstructure")
		if tag == key {
			return out.Field(i), true
		}
		if strings.HasSuffix(tag, ",squash") && field.Type.Kind() == reflect.Struct {
			if v, ok := settingValue(out.Field(i), key); ok {
				return v, true
			}
		}
	}
	return reflect.Value{}, false
}

// TestEveryFlagIsReadThroughTheConfiguration sets every flag of every command that has
// --config by its PORTCULLIS_* variable, and then by the config file, and checks that the
// command's settings hold the value: a flag the command reads with cmd.Flags().GetX would
// ignore both. Cobra's required flags and flag groups see only flags, so none may use them.
func TestEveryFlagIsReadThroughTheConfiguration(t *testing.T) {
	for _, cc := range configCommands(t) {
		name := strings.Join(cc.path, " ")
		for _, source := range []string{"env", "file"} {
			t.Run(name+"/"+source, func(t *testing.T) {
				var yaml strings.Builder
				wants := map[string]string{}
				for _, f := range settingFlags(cc.cmd) {
					for key := range f.Annotations {
						if strings.HasPrefix(key, "cobra_annotation") {
							t.Errorf("--%s: cobra flag annotation %s checks the flag alone, not PORTCULLIS_* or the config file", f.Name, key)
						}
					}
					env, y, want := sample(t, f)
					wants[f.Name] = want
					if source == "env" {
						t.Setenv(envName(f.Name), env)
					} else {
						fmt.Fprintf(&yaml, "%s: %s\n", f.Name, y)
					}
				}
				args := append(append([]string{}, cc.path...), cc.args...)
				if source == "file" {
					file := filepath.Join(t.TempDir(), "config.yaml")
					if err := os.WriteFile(file, []byte(yaml.String()), 0o600); err != nil {
						t.Fatal(err)
					}
					args = append(args, "--config", file)
				}
				got, err := loadAs(t, args...)
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				out := reflect.ValueOf(got).Elem()
				for key, want := range wants {
					v, ok := settingValue(out, key)
					if !ok {
						t.Errorf("--%s is not read through the configuration: %T has no setting %q", key, got, key)
						continue
					}
					if s := fmt.Sprint(v.Interface()); s != want {
						t.Errorf("--%s from the %s = %s; want %s", key, source, s, want)
					}
				}
			})
		}
	}
}

// TestRequiredSettingsComeFromAnySource checks that a required setting may come from its flag,
// its variable or the config file, and that a command without it is refused, naming it.
func TestRequiredSettingsComeFromAnySource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lock.yaml")
	if err := os.WriteFile(file, []byte("reason: from-file\nuser: alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // "" when the settings load
		reason  string
	}{
		{"none", nil, []string{"lock", "--user", "alice"}, `required setting "reason" not set`, ""},
		{"flag", nil, []string{"lock", "--user", "alice", "--reason", "r-flag"}, "", "r-flag"},
		{"env", map[string]string{"PORTCULLIS_REASON": "r-env", "PORTCULLIS_USER": "alice"}, []string{"lock"}, "", "r-env"},
		{"file", nil, []string{"lock", "--config", file}, "", "from-file"},
		{"empty env", map[string]string{"PORTCULLIS_REASON": ""}, []string{"lock", "--user", "alice"}, `required setting "reason" not set`, ""},
		{"policy bundle", nil, []string{"policy", "bundle", "--out", "b.tar.gz"}, `"signing-key" not set`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := loadAs(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg, ok := got.(*lockConfig); !ok || cfg.Reason != tt.reason {
				t.Errorf("settings = %+v; want reason %q", got, tt.reason)
			}
		})
	}
}

// TestLockNamesOneTarget checks lock's request: exactly one of a user, a host and a session,
// whichever source set them.
func TestLockNamesOneTarget(t *testing.T) {
	tests := []struct {
		name    string
		cfg     lockConfig
		wantErr string
	}{
		{"user", lockConfig{User: "alice", Reason: "r"}, ""},
		{"session", lockConfig{Session: "s1", Reason: "r"}, ""},
		{"none", lockConfig{Reason: "r"}, "one of --user, --host or --session"},
		{"two", lockConfig{User: "alice", Host: "web", Reason: "r"}, "--host and --user are all set"},
		{"negative ttl", lockConfig{User: "alice", Reason: "r", TTL: -1}, "--ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := tt.cfg.request()
			if tt.wantErr == "" {
				if err != nil || req.User != tt.cfg.User || req.Session != tt.cfg.Session || req.Reason != "r" {
					t.Errorf("request = %+v, %v", req, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v; want %q", err, tt.wantErr)
			}
		})
	}
}

// TestSessionsLiveFilter checks that --live is off unless given, by any source.
func TestSessionsLiveFilter(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(file, []byte("live: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     string
		args    []string
		want    string // the query's live; "" for none
		wantErr bool
	}{
		{"unset", "", nil, "", false},
		{"flag", "", []string{"--live"}, "true", false},
		{"flag false", "", []string{"--live=false"}, "false", false},
		{"env", "false", nil, "false", false},
		{"file", "", []string{"--config", file}, "false", false},
		{"flag beats env", "false", []string{"--live=true"}, "true", false},
		{"bad env", "maybe", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("PORTCULLIS_LIVE", tt.env)
			}
			got, err := loadAs(t, append([]string{"sessions", "ls"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			q, err := got.(*sessionsListConfig).query()
			if (err != nil) != tt.wantErr {
				t.Fatalf("query: %v; want error %v", err, tt.wantErr)
			}
			if err == nil && q.Get("live") != tt.want {
				t.Errorf("live = %q; want %q", q.Get("live"), tt.want)
			}
		})
	}
}

func TestParseKeyValues(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "map[]", false},
		{"env=prod", "map[env:prod]", false},
		{"env=prod,team=data", "map[env:prod team:data]", false},
		{`"a=b,c",d=`, "map[a:b,c d:]", false},
		{"env", "", true},
	}
	for _, tt := range tests {
		got, err := parseKeyValues(tt.in)
		if (err != nil) != tt.wantErr || (err == nil && fmt.Sprint(got) != tt.want) {
			t.Errorf("parseKeyValues(%q) = %v, %v; want %s (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
