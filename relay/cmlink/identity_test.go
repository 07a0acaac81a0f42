package cmlink_test

import (
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/relay/cmlink"
)

// enrolled enrols relay id for tenant with a fresh token through LoadIdentity and returns an
// HTTP client presenting its "relay:<id>" certificate.
func enrolled(t *testing.T, c *cm, id, tenant string) *http.Client {
	t.Helper()
	ident, err := cmlink.LoadIdentity(t.Context(), cmlink.IdentityConfig{
		StateDir: t.TempDir(), EnrollToken: c.relayToken(t, tenant), RelayID: id, CMURL: c.url, Client: c.client(),
	})
	if err != nil || ident.Cert == nil {
		t.Fatalf("enrol %s: %+v, %v", id, ident, err)
	}
	return c.client(*ident.Cert)
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
		{"no state dir: a fresh HTTP key", func(*testing.T, string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{RelayID: "cs-a"}
		}, false, "", ""},
		{"a vendor relay keeps its HTTP key", func(_ *testing.T, dir string) cmlink.IdentityConfig {
			return cmlink.IdentityConfig{StateDir: dir, RelayID: "cs-a"}
		}, false, "", ""},
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
		}, false, access.ErrBadRequest, "relay id must be"},
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
			if id.HTTPKey == nil || (id.Cert != nil) != tt.enrolled {
				t.Fatalf("identity %+v: HTTP key missing, or enrolled is not %v", id, tt.enrolled)
			}
			if cfg.StateDir == "" {
				return
			}
			// The next start, without the (spent) token, finds the same identity.
			cfg.EnrollToken = ""
			again, err := cmlink.LoadIdentity(t.Context(), cfg)
			if err != nil || !again.HTTPKey.Equal(id.HTTPKey) || (again.Cert != nil) != tt.enrolled {
				t.Fatalf("the next start: %+v, %v; want the same identity", again, err)
			}
			if !tt.enrolled {
				return
			}
			for _, f := range []string{cmlink.HTTPKeyFile, cmlink.KeyFile, cmlink.CertFile} {
				if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
				}
			}
			leaf, err := x509.ParseCertificate(id.Cert.Certificate[0])
			if err != nil || leaf.Subject.CommonName != "relay:"+cfg.RelayID {
				t.Fatalf("certificate %v (%v), want CN relay:%s", leaf.Subject, err, cfg.RelayID)
			}
			// The CM knows it as the tenant's private relay, whatever it registers as.
			if _, err := c.link(cfg.RelayID, c.client(*id.Cert)).Register(t.Context(), newFakeRelay()); err != nil {
				t.Fatal(err)
			}
			if rec := c.relayRecord(t, cfg.RelayID); rec.Owner != "globex" || !rec.Private {
				t.Fatalf("the CM's record %+v is not globex's private relay", rec)
			}
		})
	}
}
