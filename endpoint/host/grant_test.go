package host

import (
	"errors"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint/guest"
)

func TestHostRefusesWhatTheObligationsDoNotAllow(t *testing.T) {
	tests := []struct {
		name     string
		channels []string
		do       func(t *testing.T, c *ssh.Client) error
		wantIs   error
		wantText string
	}{
		{"exec when only shell is allowed", []string{"shell"}, func(t *testing.T, c *ssh.Client) error {
			_, err := guest.Exec(t.Context(), c, "id", nil, nil, nil)
			return err
		}, access.ErrChannelNotAllowed, "exec (this session allows: shell)"},
		{"shell when only exec is allowed", []string{"exec"}, func(t *testing.T, c *ssh.Client) error {
			_, err := guest.Shell(t.Context(), c, nil, nil, nil)
			return err
		}, access.ErrChannelNotAllowed, "shell (this session allows: exec)"},
		{"terminal when only exec is allowed", []string{"exec"}, func(t *testing.T, c *ssh.Client) error {
			sess, err := c.NewSession()
			if err != nil {
				return err
			}
			defer sess.Close()
			return sess.RequestPty("xterm", 24, 80, ssh.TerminalModes{})
		}, nil, "pty-req"},
		{"sftp when only shell is allowed", []string{"shell"}, func(t *testing.T, c *ssh.Client) error {
			_, err := sftp.NewClient(c)
			return err
		}, nil, "subsystem request failed"},
		{"forward when only shell is allowed", []string{"shell"}, func(t *testing.T, c *ssh.Client) error {
			_, err := c.Dial("tcp", "127.0.0.1:22")
			return err
		}, nil, "forward (this session allows: shell)"},
		{"session channel when only forward is allowed", []string{"forward"}, func(t *testing.T, c *ssh.Client) error {
			_, err := guest.Exec(t.Context(), c, "id", nil, nil, nil)
			return err
		}, access.ErrChannelNotAllowed, "session channels (this session allows: forward)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.Obligations.Channels = tt.channels
			client := connected(t, f)
			err := tt.do(t, client)
			if err == nil {
				t.Fatal("the request was served")
			}
			t.Logf("the Guest sees: %v", err)
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
		})
	}
}

func TestGrantChecksCertificateExtensions(t *testing.T) {
	f := newFixture(t)
	cert := f.Cert(t, func(r *certs.UserCertRequest) { r.Obligations.Channels = []string{"exec"} })
	g := grant{obligations: f.Obligations, cert: cert}
	for _, kind := range []string{channelPTY, access.ChannelForward} {
		if err := g.allows(kind); !errors.Is(err, access.ErrChannelNotAllowed) || !strings.Contains(err.Error(), "extension") {
			t.Errorf("allows(%s) = %v, want a refusal naming the missing extension", kind, err)
		}
	}
	if err := g.allows(access.ChannelExec); err != nil {
		t.Errorf("allows(exec) = %v", err)
	}
}
