package main

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/gateway/logship"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/rego"
)

// untestedPolicyDir writes the default policy without its tests into a new directory.
func untestedPolicyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := fs.WalkDir(rego.Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(rego.Files(), p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, p), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The CM refuses to start with a policy that has no tests, unless the operator says so with
// --allow-untested-policy, PORTCULLIS_ALLOW_UNTESTED_POLICY or the configuration file; then
// the policy status shows it.
func TestTheCMRefusesAnUntestedPolicyUnlessAllowed(t *testing.T) {
	dir := untestedPolicyDir(t)
	cfgFile := filepath.Join(t.TempDir(), "cm.yaml")
	if err := os.WriteFile(cfgFile, []byte("allow-untested-policy: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   string
		allow bool
	}{
		{"no flag", nil, "", false},
		{"the flag", []string{"--allow-untested-policy"}, "", true},
		{"the environment", nil, "true", true},
		{"the configuration file", []string{"--config", cfgFile}, "", true},
		{"the flag turned off beats the file", []string{"--config", cfgFile, "--allow-untested-policy=false"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("PORTCULLIS_ALLOW_UNTESTED_POLICY", tc.env)
			}
			var cfg cmConfig
			cmd := newCMCmd()
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &cfg) }
			cmd.SetArgs(append([]string{"--policy-dir", dir}, tc.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			m, err := loadPolicy(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if !tc.allow {
				if !errors.Is(err, policy.ErrUntested) || !strings.Contains(err.Error(), "--allow-untested-policy") {
					t.Fatalf("loadPolicy error = %v, want ErrUntested naming the flag", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadPolicy: %v", err)
			}
			if st := m.Status(); !st.Untested || !st.AllowUntested || st.Tests != 0 {
				t.Errorf("status %+v, want the untested policy shown", st)
			}
			if !strings.Contains(logs.String(), "WITHOUT tests") {
				t.Errorf("the log does not warn of the untested policy:\n%s", logs.String())
			}
		})
	}
}

// The decision-log collector is configured by flag, PORTCULLIS_* environment or file, and a
// URL the shipper cannot use is refused.
func TestDecisionLogShippingIsConfigured(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "cm.yaml")
	if err := os.WriteFile(cfgFile, []byte("decision-log-url: https://file.example/\ndecision-log-batch: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    logship.Config
		wantErr bool
	}{
		{"none", nil, "", logship.Config{Batch: logship.DefaultBatch, Poll: logship.DefaultPoll}, false},
		{"the flags", []string{"--decision-log-url", "http://collector:8181", "--decision-log-poll", "250ms"}, "",
			logship.Config{URL: "http://collector:8181", Batch: logship.DefaultBatch, Poll: 250 * time.Millisecond}, false},
		{"the environment", nil, "http://env.example/v1/logs",
			logship.Config{URL: "http://env.example/v1/logs", Batch: logship.DefaultBatch, Poll: logship.DefaultPoll}, false},
		{"the configuration file", []string{"--config", cfgFile}, "",
			logship.Config{URL: "https://file.example/", Batch: 50, Poll: logship.DefaultPoll}, false},
		{"not a URL", []string{"--decision-log-url", "collector:8181"}, "",
			logship.Config{URL: "collector:8181", Batch: logship.DefaultBatch, Poll: logship.DefaultPoll}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("PORTCULLIS_DECISION_LOG_URL", tc.env)
			}
			var cfg cmConfig
			cmd := newCMCmd()
			cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &cfg) }
			cmd.SetArgs(tc.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			got := cfg.decisionLogShipping()
			if got.URL != tc.want.URL || got.Batch != tc.want.Batch || got.Poll != tc.want.Poll {
				t.Errorf("shipping %+v, want %+v", got, tc.want)
			}
			if got.URL == "" {
				return
			}
			if _, err := logship.Target(got.URL); (err != nil) != tc.wantErr {
				t.Errorf("collector URL %q: err = %v, want error %v", got.URL, err, tc.wantErr)
			}
		})
	}
}
