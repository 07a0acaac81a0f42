//go:build unix

package host

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/guest"
)

func TestSessionEndsWhenTheCertificateExpires(t *testing.T) {
	f := newFixture(t)
	cert := f.Cert(t, func(r *certs.UserCertRequest) { r.ValidFor = 2 * time.Second })
	p := connect(t, t.Context(), f.serverConfig(), f.clientConfig(t, cert))
	if p.clientErr != nil {
		t.Fatal(p.clientErr)
	}
	out := newTranscript()
	code, err := guest.Exec(t.Context(), p.client, "echo $$; exec sleep 60", nil, out, nil)
	if err == nil {
		t.Fatalf("Exec returned %d without error after the certificate expired", code)
	}
	if err := p.served(); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("ServeSSH = %v, want ErrSessionExpired", err)
	}
	pid := mustAtoi(t, strings.TrimSpace(out.String()))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the program (pid %d) outlived the session: kill -0 = %v", pid, err)
	}
}
