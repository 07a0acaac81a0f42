package cmlink_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/relay/cmlink"
)

// enrolled enrols relay id for tenant with a fresh token through LoadIdentity and returns an
// HTTP client presenting its "relay:<id>" certificate.
func enrolled(t *testing.T, c *cm, id, tenant string) *http.Client {
	t.Helper()
	ident, err := cmlink.LoadIdentity(t.Context(), cmlink.IdentityConfig{
		StateDir: t.TempDir(), EnrollToken: c.relayToken(t, tenant), RelayID: id, CMURL: c.url, Client: c.client(),
	})
	if err != nil || !ident.Enrolled {
		t.Fatalf("enrol %s: %+v, %v", id, ident, err)
	}
	return c.client(ident.Cert)
}

func TestLoadIdentity(t *testing.T) {
	c := startCM(t)
	tests := []struct {
		name string
		// cfg returns the identity configuration; dir is a fresh directory.
		cfg      func(t *testing.T, dir string) cmlink.IdentityConfig
		enrolled bool        // the relay ends up with a certificate
		code     access.Code // with says: the failure
		says     string
	}{
		{"no state dir: a fresh HTTP key and the relay's own certificate", func(t *testing.T, _ string) cmlink.IdentityConfig {
			return vendor(t, c, "cs-a", "cs-a")
		}, false, "", ""},
		{"a vendor relay keeps its HTTP key", func(t *testing.T, dir string) cmlink.IdentityConfig {
			cfg := vendor(t, c, "cs-a", "cs-a")
			cfg.StateDir = dir
			return cfg
		}, false, "", ""},
		{"a vendor relay without a certificate", func(_ *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-a"}
		}, false, "", "relay cs-a has no client certificate: a vendor relay needs its own (portcullis certs relay --id cs-a)"},
		{"a vendor relay whose certificate file is missing", func(_ *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-a", CertFile: filepath.Join(dir, "none.crt"), KeyFile: filepath.Join(dir, "none.key")}
		}, false, "", "issue one with portcullis certs relay --id cs-a"},
		{"a vendor relay with the relays' old shared certificate", func(_ *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-a",
				CertFile: filepath.Join(c.certDir, certs.CSCertFile), KeyFile: filepath.Join(c.certDir, certs.CSKeyFile)}
		}, false, "", "the relays' old shared certificate (portcullis-relay), which names no relay and which the CM refuses: issue relay cs-a its own with portcullis certs relay --id cs-a"},
		{"a vendor relay with another relay's certificate", func(t *testing.T, dir string) cmlink.IdentityConfig {
			cfg := vendor(t, c, "cs-a", "cs-b")
			cfg.StateDir = dir
			return cfg
		}, false, "", "is relay cs-b's certificate, not relay cs-a's"},
		{"a tenant's relay enrols once", func(t *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-globex-1", EnrollToken: c.relayToken(t, "globex"), CMURL: c.url, Client: c.client()}
		}, true, "", ""},
		{"a token without a state dir", func(t *testing.T, _ string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{RelayID: "cs-x", EnrollToken: "pcet_x", CMURL: c.url, Client: c.client()}
		}, false, "", "needs a state directory"},
		{"an unknown token", func(_ *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-x", EnrollToken: "pcet_nope", CMURL: c.url, Client: c.client()}
		}, false, access.ErrUnauthenticated, "enrollment token is invalid, used or expired"},
		{"a bad relay id", func(t *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "CS X", EnrollToken: c.relayToken(t, "globex"), CMURL: c.url, Client: c.client()}
		}, false, "", `relay id "CS X" must be 1 to 64 lower-case letters`},
		{"CM down", func(t *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-x", EnrollToken: "pcet_x", CMURL: "https://" + freeAddr(t), Client: c.client()}
		}, false, "", "connection refused"},
		{"malformed answer", func(t *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-x", EnrollToken: "pcet_x", CMURL: answering(t, `{"id":"cs-x","certificate":"not PEM"}`), Client: http.DefaultClient}
		}, false, "", "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			cfg := tt.cfg(t, dir)
			id, err := cmlink.LoadIdentity(t.Context(), cfg)
			if tt.says != "" {
				wantCode(t, err, tt.code, tt.says)
				// Nothing half-done is kept: a later start can enrol afresh.
				for _, f := range []string{cmlink.KeyFile, cmlink.CertFile} {
					if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("a failed enrollment left %s (%v)", f, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Enrolled != tt.enrolled || len(id.Cert.Certificate) == 0 {
				t.Fatalf("identity %+v: certificate missing, or enrolled is not %v", id, tt.enrolled)
			}
			if cfg.StateDir == "" {
				return
			}
			// The next start, without the (spent) token, finds the same identity.
			cfg.EnrollToken = ""
			again, err := cmlink.LoadIdentity(t.Context(), cfg)
			if err != nil || !bytes.Equal(again.Cert.Certificate[0], id.Cert.Certificate[0]) || again.Enrolled != tt.enrolled {
				t.Fatalf("the next start: %+v, %v; want the same identity", again, err)
			}
			if !tt.enrolled {
				return
			}
			for _, f := range []string{cmlink.KeyFile, cmlink.CertFile} {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
				}
			}
			leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
			if err != nil || leaf.Subject.CommonName != "relay:"+cfg.RelayID {
				t.Fatalf("certificate %v (%v), want CN relay:%s", leaf.Subject, err, cfg.RelayID)
			}
			// The CM knows it as the tenant's private relay, whatever it registers as.
			if _, err := c.link(cfg.RelayID, c.client(id.Cert)).Register(t.Context(), newFakeRelay()); err != nil {
				t.Fatal(err)
			}
			if rec := c.relayRecord(t, cfg.RelayID); rec.Owner != "globex" || !rec.Private {
				t.Fatalf("the CM's record %+v is not globex's private relay", rec)
			}
		})
	}
}

// vendor is the identity configuration of vendor relay id started with relay certID's own
// certificate files (issued into the CM's certs directory).
func vendor(t *testing.T, c *cm, id, certID string) cmlink.IdentityConfig {
	t.Helper()
	c.vendorIdentity(t, certID)
	return cmlink.IdentityConfig{RelayID: id,
		CertFile: filepath.Join(c.certDir, certs.RelayCertFile(certID)), KeyFile: filepath.Join(c.certDir, certs.RelayKeyFile(certID))}
}

func TestAnEnrolledRelayStartedUnderAnotherIDIsRefused(t *testing.T) {
	c := startCM(t)
	dir := t.TempDir()
	cfg := cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-globex-1", EnrollToken: c.relayToken(t, "globex"), CMURL: c.url, Client: c.client()}
	if _, err := cmlink.LoadIdentity(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.RelayID, cfg.EnrollToken = "cs-globex-2", ""
	_, err := cmlink.LoadIdentity(t.Context(), cfg)
	wantCode(t, err, "", "is relay cs-globex-1's certificate, not relay cs-globex-2's")
}
