//go:build unix

package host

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/sshtest"
)

// TestEnrolledStateIsPrivateToTheAgent enrols a Host with a stand-in CM and checks that its state
// directory, new or already there and open, is made private (privatedir: 0700 here, an
// owner-only access list on Windows, tested in package privatedir) and that the key, the
// certificate and the identity holding the trusted SSH user CA are the agent's alone.
func TestEnrolledStateIsPrivateToTheAgent(t *testing.T) {
	userCA := string(ssh.MarshalAuthorizedKey(sshtest.NewSigner(t).PublicKey()))
	var cm *httptest.Server
	cm = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathEnroll {
			http.NotFound(w, r)
			return
		}
		// Any certificate does for the Host's: load only parses it.
		crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cm.Certificate().Raw})
		_ = json.NewEncoder(w).Encode(api.EnrollResponse{HostID: "h-1", Certificate: string(crt), SSHUserCA: userCA})
	}))
	t.Cleanup(cm.Close)
	roots := x509.NewCertPool()
	roots.AddCert(cm.Certificate())
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, dir string }{
		{"new, with parents", filepath.Join(base, "var", "lib", "host")},
		{"existing and open to others", open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Agent{CMURL: cm.URL, StateDir: tt.dir, EnrollmentToken: "pcet_test", Name: "web-1", RootCAs: roots}
			if _, err := h.start(t.Context()); err != nil {
				t.Fatalf("start: %v", err)
			}
			wantModes := map[string]os.FileMode{".": 0o700, hostKeyFile: 0o600, hostCertFile: 0o600, hostStateFile: 0o600}
			for name, want := range wantModes {
				st, err := os.Stat(filepath.Join(tt.dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s: mode %v, want %v", name, st.Mode().Perm(), want)
				}
			}
		})
	}
}
