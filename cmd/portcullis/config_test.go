package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/relay"
)

// TestConfigPrecedence checks the documented order: flag defaults < YAML file < PORTCULLIS_*
// environment < flags given on the command line.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cs.yaml")
	yaml := "id: from-file\nregion: file-region\nhttp-advertise: http://file:80\nlisten: \":1\"\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTCULLIS_REGION", "env-region")
	t.Setenv("PORTCULLIS_HTTP_ADVERTISE", "http://env:80")

	var got csConfig
	cmd := newCSCmd()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &got) }
	cmd.SetArgs([]string{"--config", file, "--http-advertise", "http://flag:80"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := csConfig{
		ID:            "from-file",      // file beats the flag default
		Region:        "env-region",     // environment beats the file
		HTTPAdvertise: "http://flag:80", // a given flag beats everything
		Listen:        ":1",             // file
		Advertise:     "127.0.0.1:1970", // flag default
		HTTPListen:    ":80",
		MetricsListen: "127.0.0.1:9470",
		MaxSessions:   relay.DefaultMaxLive,
		PerSource:     relay.DefaultMaxHandshakesPerSource,
		DrainTimeout:  30 * time.Second,
		GCPercent:     csGCPercent,
		CMURL:         "https://127.0.0.1:8443",
		CertsDir:      "certs",
		logConfig:     logConfig{LogLevel: "info", LogFormat: logFormatText, out: os.Stderr}, // the command's error stream
	}
	if got != want {
		t.Errorf("config = %+v\nwant     %+v", got, want)
	}
}

func TestConfigFileErrorsAreReported(t *testing.T) {
	cmd := newCSCmd()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &csConfig{}) }
	cmd.SetArgs([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")})
	if err := cmd.Execute(); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}

func TestEveryCommandExplainsItself(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%q has no help text", c.CommandPath())
		}
		if l := strings.TrimSpace(c.Long); l != "" && (!unicode.IsUpper([]rune(l)[0]) || !strings.HasSuffix(l, ".")) {
			t.Errorf("%q: the long description is not full sentences: %q", c.CommandPath(), l)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

func TestTheOldCMURLFlagStillWorksButIsHidden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"--cm", []string{"--cm", "https://new"}, "", "https://new"},
		{"--cm-url", []string{"--cm-url", "https://old"}, "", "https://old"},
		{"PORTCULLIS_CM_URL", nil, "https://old-env", "https://old-env"},
		{"--cm wins", []string{"--cm", "https://new", "--cm-url", "https://old"}, "", "https://new"},
		{"default", nil, "", "https://127.0.0.1:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("PORTCULLIS_CM_URL", tt.env)
			}
			for _, newCmd := range []func() *cobra.Command{newCSCmd, newHostCmd, newExecCmd} {
				var got struct {
					CM string `mapstructure:"cm"`
				}
				cmd := newCmd()
				cmd.SetErr(io.Discard)
				cmd.Args = nil
				cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &got) }
				cmd.SetArgs(tt.args)
				if err := cmd.Execute(); err != nil || got.CM != tt.want {
					t.Errorf("%s: cm = %q, %v; want %q", cmd.Name(), got.CM, err, tt.want)
				}
				if f := cmd.Flags().Lookup("cm-url"); f == nil || !f.Hidden || f.Deprecated == "" {
					t.Errorf("%s: --cm-url is not a hidden, deprecated alias", cmd.Name())
				}
			}
		})
	}
}

func TestBooleanFlagsShowPlainAndStillParse(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if u := c.UsageString(); strings.Contains(u, "[=true|false]") {
			t.Errorf("%s help shows [=true|false]:\n%s", c.CommandPath(), u)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRootCmd()
	walk(root)
	initCmd, _, err := root.Find([]string{"certs", "init"})
	if err != nil || !strings.Contains(initCmd.UsageString(), "      --force ") {
		t.Fatalf("certs init help lacks a plain --force: %v", err)
	}
	for _, tt := range []struct {
		args []string
		want bool
	}{{[]string{"--force"}, true}, {[]string{"--force=false"}, false}, {[]string{"--force=true"}, true}, {nil, false}} {
		cmd := newCertsInitCmd()
		plainBoolFlags(cmd)
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got, err := cmd.Flags().GetBool("force"); err != nil || got != tt.want {
			t.Errorf("%v: force = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
}
