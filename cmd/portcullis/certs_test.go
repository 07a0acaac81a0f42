package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/relay/cmlink"
)

// portcullis runs the binary's command line in this process and returns its output.
func portcullis(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestCertsInitAndRelayThenCSFindsItsOwnCertificate: `certs init --relay` and `certs relay`
// issue each vendor relay its own certificate where `portcullis cs --id <id>` looks for it by
// default; a relay started with another relay's certificate, or with the old shared one, stops
// at once and says what to do.
func TestCertsInitAndRelayThenCSFindsItsOwnCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	out, err := portcullis(t, "certs", "init", "--dir", dir, "--algorithm", "p384", "--relay", "cs-eu-1")
	if err != nil || !strings.Contains(out, "wrote relay cs-eu-1's certificate "+filepath.Join(dir, "relay-cs-eu-1.crt")) {
		t.Fatalf("certs init: %v\n%s", err, out)
	}
	out, err = portcullis(t, "certs", "relay", "--dir", dir, "--id", "cs-us-1")
	if err != nil || !strings.Contains(out, "copy ca.crt, cs.crt, cs.key, relay-cs-us-1.crt, relay-cs-us-1.key") {
		t.Fatalf("certs relay: %v\n%s", err, out)
	}
	if _, err := portcullis(t, "certs", "relay", "--dir", dir, "--id", "cs-us-1"); !errors.Is(err, certs.ErrExists) {
		t.Fatalf("certs relay over an existing relay: %v, want it refused", err)
	}
	if _, err := portcullis(t, "certs", "relay", "--dir", dir, "--id", "cs-us-1", "--force"); err != nil {
		t.Fatalf("certs relay --force: %v", err)
	}
	if _, err := portcullis(t, "certs", "relay", "--dir", dir); err == nil || !strings.Contains(err.Error(), `"id" not set`) {
		t.Fatalf("certs relay without --id: %v", err)
	}

	tests := []struct {
		name string
		cfg  csConfig
		says string // "" means the relay's identity loads
	}{
		{"certs init --relay", csConfig{ID: "cs-eu-1", CertsDir: dir}, ""},
		{"certs relay", csConfig{ID: "cs-us-1", CertsDir: dir}, ""},
		{"explicit files", csConfig{ID: "cs-us-1", RelayCert: filepath.Join(dir, "relay-cs-us-1.crt"), RelayKey: filepath.Join(dir, "relay-cs-us-1.key")}, ""},
		{"a relay never issued", csConfig{ID: "cs-ap-1", CertsDir: dir}, "issue one with portcullis certs relay --id cs-ap-1"},
		{"another relay's certificate", csConfig{ID: "cs-eu-1", CertsDir: dir,
			RelayCert: filepath.Join(dir, "relay-cs-us-1.crt"), RelayKey: filepath.Join(dir, "relay-cs-us-1.key")}, "is relay cs-us-1's certificate, not relay cs-eu-1's"},
		{"the old shared certificate", csConfig{ID: "cs-eu-1", CertsDir: dir,
			RelayCert: filepath.Join(dir, certs.CSCertFile), RelayKey: filepath.Join(dir, certs.CSKeyFile)}, "issue relay cs-eu-1 its own with portcullis certs relay --id cs-eu-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ident, err := cmlink.LoadIdentity(t.Context(), cmlink.IdentityConfig{RelayID: tt.cfg.ID, CertFile: tt.cfg.relayCertFile(), KeyFile: tt.cfg.relayKeyFile()})
			if tt.says != "" {
				if err == nil || !strings.Contains(err.Error(), tt.says) {
					t.Fatalf("LoadIdentity = %v, want an error saying %q", err, tt.says)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := certs.RelayIDOf(ident.Cert.Leaf); !ok || id != tt.cfg.ID || !certs.IsVendorRelay(ident.Cert.Leaf) {
				t.Fatalf("the relay's certificate names %q, want vendor relay %s", ident.Cert.Leaf.Subject, tt.cfg.ID)
			}
		})
	}
}
