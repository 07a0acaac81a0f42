package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestConfigFileRefusesUnknownSettings checks that a key of the config file that is none of
// the command's settings is refused, named, with the setting it probably means, and that
// nothing runs.
func TestConfigFileRefusesUnknownSettings(t *testing.T) {
	tests := []struct {
		name    string
		cmd     []string
		yaml    string
		wantErr []string // nil when the file loads
	}{
		{"valid", []string{"cm"}, "oidc-require-amr: [mfa]\ninstance: cm-1\n", nil},
		{"underscores", []string{"cm"}, "oidc_require_amr: [mfa]\n", []string{`unknown setting "oidc_require_amr"`, `did you mean "oidc-require-amr"`}},
		{"guest underscores", []string{"sessions", "ls"}, "ca_file: /etc/ca.crt\n", []string{`unknown setting "ca_file"`, `did you mean "ca-file"`}},
		{"typo", []string{"cm"}, "oidc-requre-amr: [mfa]\n", []string{`unknown setting "oidc-requre-amr"`, `did you mean "oidc-require-amr"`}},
		{"far off", []string{"cs"}, "id: cs-1\nwhatever: 1\n", []string{`unknown setting "whatever"`}},
		{"every one named", []string{"host"}, "shel: /bin/sh\nstate_dir: /var\n", []string{`"shel"`, `did you mean "shell"`, `"state_dir"`, `did you mean "state-dir"`}},
		{"another command's", []string{"token", "create"}, "log-level: debug\n", []string{`unknown setting "log-level"`}},
		{"not --config itself", []string{"cs"}, "config: other.yaml\n", []string{`unknown setting "config"`}},
		{"the old cm-url", []string{"cs"}, "cm-url: https://cm.example.com\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadAs(t, append(tt.cmd, "--config", file)...)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if tt.name == "far off" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("error %q suggests a setting far from the key", err)
			}
		})
	}
}

// TestShippedConfigFilesLoad loads the packaged config files with their commands, and every
// YAML example of the README and docs with the command it configures (one of cm, cs and
// host): an unknown key in one would now be refused.
func TestShippedConfigFilesLoad(t *testing.T) {
	for _, name := range []string{"cm", "cs", "host"} {
		t.Run("packaging/"+name, func(t *testing.T) {
			if _, err := loadAs(t, name, "--config", filepath.Join("..", "..", "packaging", "etc", name+".yaml")); err != nil {
				t.Error(err)
			}
		})
	}
	docs, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	examples := 0
	for _, doc := range append(docs, filepath.Join("..", "..", "README.md")) {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(text, -1) {
			yaml := dedent(string(m[1]))
			if strings.Contains(yaml, "staticClients:") {
				continue // dex's configuration, not Portcullis's
			}
			examples++
			file := filepath.Join(t.TempDir(), "example.yaml")
			if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var errs []string
			loaded := false
			for _, name := range []string{"cm", "cs", "host"} {
				if _, err := loadAs(t, name, "--config", file); err != nil {
					errs = append(errs, err.Error())
				} else {
					loaded = true
				}
			}
			if !loaded {
				t.Errorf("%s: an example no command loads:\n%s\n%s", doc, yaml, strings.Join(errs, "\n"))
			}
		}
	}
	if examples < 5 {
		t.Errorf("found only %d YAML examples in the docs", examples)
	}
}

// dedent removes the indentation of a YAML block nested in a Markdown list.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestGroupCommandsRefuseUnknownSubcommands checks every command that has subcommands: an
// unknown one is an error (a non-zero exit status), naming it; with no argument a group prints
// its help and succeeds.
func TestGroupCommandsRefuseUnknownSubcommands(t *testing.T) {
	var groups []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasSubCommands() {
			groups = append(groups, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	if len(groups) < 8 {
		t.Fatalf("only %d group commands", len(groups))
	}
	for _, g := range groups {
		path := strings.Fields(g.CommandPath())[1:]
		t.Run(g.CommandPath(), func(t *testing.T) {
			tests := []struct {
				name    string
				args    []string
				wantErr string
			}{
				{"unknown", append(append([]string{}, path...), "nosuchcommand"), `unknown command "nosuchcommand"`},
				{"misspelt", append(append([]string{}, path...), g.Commands()[0].Name()+"x"), "did you mean " + g.Commands()[0].Name()},
			}
			for _, tt := range tests {
				root := newRootCmd()
				var out bytes.Buffer
				root.SetOut(&out)
				root.SetErr(&out)
				root.SetArgs(tt.args)
				err := root.ExecuteContext(t.Context())
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s %v: err = %v; want %q (output %q)", tt.name, tt.args, err, tt.wantErr, out.String())
				}
			}
			if g.Runnable() && g.RunE != nil && g.Flags().Lookup("config") != nil {
				return // a command of its own besides its subcommands: it runs without arguments
			}
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(path)
			if err := root.ExecuteContext(t.Context()); err != nil || !strings.Contains(out.String(), "Available Commands") {
				t.Errorf("%v alone: err = %v; want its help, got %q", path, err, out.String())
			}
		})
	}
}
