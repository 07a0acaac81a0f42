package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestHostSchemesFromTheConfigFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "host.yaml")
	yaml := "auth-chain: [central, allowlist, confirm]\nallow-groups: [ops, oncall]\nconfirm-socket: /run/p.sock\nconfirm-timeout: 45s\nrun-as: operator\nencryption: high\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	var got hostConfig
	cmd := newHostCmd()
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return loadConfig(cmd, &got) }
	cmd.SetArgs([]string{"--config", file, "--allow-users", "alice@example.com", "--state-dir", "/var/lib/p"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	c := got.config()
	if !slices.Equal(c.Chain, []string{"central", "allowlist", "confirm"}) || !slices.Equal(c.AllowGroups, []string{"ops", "oncall"}) ||
		!slices.Equal(c.AllowUsers, []string{"alice@example.com"}) || c.ConfirmSocket != "/run/p.sock" || c.ConfirmTimeout != 45*time.Second || c.StateDir != "/var/lib/p" {
		t.Errorf("schemes = %+v", c)
	}
	if got.RunAs != "operator" || got.Encryption != "high" {
		t.Errorf("run-as %q, encryption %q", got.RunAs, got.Encryption)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestRootAgentMustNameTheSessionAccount(t *testing.T) {
	tests := []struct {
		uid   int
		runAs string
		ok    bool
	}{
		{0, "", false},
		{0, "root", true},
		{0, "operator", true},
		{1000, "", true},
	}
	for _, tt := range tests {
		if err := checkRunAs(tt.uid, tt.runAs); (err == nil) != tt.ok {
			t.Errorf("checkRunAs(%d, %q) = %v", tt.uid, tt.runAs, err)
		}
	}
}
