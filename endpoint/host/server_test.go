package host

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/internal/sshtest"
	"github.com/portcullis/portcullis/internal/syncbuf"
)

func TestHostRefusesCertificates(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	valid := f.Cert(t, nil)
	twoPrincipals := *valid
	twoPrincipals.ValidPrincipals = []string{sshtest.Principal, "root"}
	tests := []struct {
		name   string
		signer func(t *testing.T) ssh.Signer
		user   string
		want   error
	}{
		{"certificate from another CA", func(t *testing.T) ssh.Signer {
			other := *f
			other.CA = sshtest.NewSigner(t)
			return f.clientConfig(t, other.Cert(t, nil)).Signer
		}, sshtest.Principal, access.ErrWrongCA},
		{"certificate for another session", func(t *testing.T) ssh.Signer {
			return f.clientConfig(t, f.Cert(t, func(r *certs.UserCertRequest) { r.SessionID = "sess-other" })).Signer
		}, sshtest.Principal, access.ErrWrongSession},
		{"expired certificate", func(t *testing.T) ssh.Signer {
			return f.clientConfig(t, f.Cert(t, func(r *certs.UserCertRequest) { r.Now, r.ValidFor = now.Add(-2*time.Hour), time.Hour })).Signer
		}, sshtest.Principal, access.ErrExpired},
		{"certificate not yet valid", func(t *testing.T) ssh.Signer {
			return f.clientConfig(t, f.Cert(t, func(r *certs.UserCertRequest) { r.Now = now.Add(time.Hour) })).Signer
		}, sshtest.Principal, access.ErrNotYetValid},
		{"plain key", func(t *testing.T) ssh.Signer { return f.GuestKey }, sshtest.Principal, access.ErrNotCertificate},
		{"user is not the principal", func(t *testing.T) ssh.Signer { return f.clientConfig(t, valid).Signer }, "root", access.ErrPrincipalMismatch},
		{"two principals", func(t *testing.T) ssh.Signer {
			return f.clientConfig(t, sshtest.Resign(t, f.CA, &twoPrincipals)).Signer
		}, sshtest.Principal, access.ErrPrincipalCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log syncbuf.Buffer
			scfg := f.serverConfig()
			scfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
			ccfg := f.clientConfig(t, valid)
			ccfg.Signer, ccfg.User = tt.signer(t), tt.user
			p := connect(t, t.Context(), scfg, ccfg)
			if p.clientErr == nil {
				t.Fatal("the Guest got in")
			}
			t.Logf("the Guest sees: %v", p.clientErr)
			code := string(access.CodeOf(tt.want))
			var refused *endpoint.RefusedError
			if !errors.Is(p.clientErr, tt.want) || !errors.As(p.clientErr, &refused) || refused.Code != code {
				t.Errorf("Guest error %v; want a RefusedError %q wrapping %v", p.clientErr, code, tt.want)
			}
			if err := p.served(); !errors.Is(err, tt.want) {
				t.Errorf("ServeSSH = %v, want %v", err, tt.want)
			}
			if !strings.Contains(log.String(), "reason="+code) {
				t.Errorf("the Host log does not record reason %q:\n%s", code, log.String())
			}
		})
	}
}

func TestServeSSHEndsWithItsContext(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	p := connect(t, ctx, f.serverConfig(), f.clientConfig(t, f.Cert(t, nil)))
	if p.clientErr != nil {
		t.Fatal(p.clientErr)
	}
	out := newTranscript()
	done := make(chan error, 1)
	go func() {
		_, err := guest.Exec(t.Context(), p.client, "echo started; exec sleep 60", nil, out, nil)
		done <- err
	}()
	out.MustSee(t, "started")
	cancel()
	if err := p.served(); !errors.Is(err, context.Canceled) {
		t.Fatalf("ServeSSH = %v, want context.Canceled", err)
	}
	if err := <-done; err == nil {
		t.Fatal("Exec succeeded although the Host went away")
	}
}

func TestServerConfigValidate(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		edit func(*SSHConfig)
		want []string
	}{
		{"valid", func(*SSHConfig) {}, nil},
		{"empty", func(c *SSHConfig) { *c = SSHConfig{} }, []string{"no host key", "no user CA", "no session id"}},
		{"relative shell", func(c *SSHConfig) { c.Shell = "sh" }, []string{"not an absolute path"}},
		{"unknown level", func(c *SSHConfig) { c.Level = "extreme" }, []string{`"extreme"`}},
		{"unknown minimum", func(c *SSHConfig) { c.Obligations.MinEncryption = "low" }, []string{`"low"`}},
		{"weaker than required", func(c *SSHConfig) { c.Level = access.LevelHigh }, []string{"weaker than the obligations' minimum"}},
		{"the large sftp read size", func(c *SSHConfig) { c.SFTPReadMax = endpoint.SFTPLargePacket }, nil},
		{"sftp reads smaller than every server's", func(c *SSHConfig) { c.SFTPReadMax = 4096 }, []string{"sftp read size 4096"}},
		{"sftp reads larger than a packet", func(c *SSHConfig) { c.SFTPReadMax = 1 << 20 }, []string{"sftp read size 1048576"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := f.serverConfig()
			tt.edit(&cfg)
			err := cfg.Validate()
			if (err == nil) != (tt.want == nil) || (err != nil && !errors.Is(err, endpoint.ErrBadConfig)) {
				t.Fatalf("Validate = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestServeSSHRefusesABadConfigAndClosesTheConnection(t *testing.T) {
	local, remote := net.Pipe()
	defer remote.Close()
	if err := ServeSSH(t.Context(), local, SSHConfig{}); !errors.Is(err, endpoint.ErrBadConfig) {
		t.Fatalf("ServeSSH = %v, want endpoint.ErrBadConfig", err)
	}
	if _, err := remote.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open")
	}
}

// TestNegotiationStaysInTheHostsLevel connects Guests offering various algorithm sets to a
// very_high Host: the handshake either lands on very_high algorithms or fails with "no common
// algorithm".
func TestNegotiationStaysInTheHostsLevel(t *testing.T) {
	medium, err := endpoint.Algorithms(access.LevelMedium)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		offer   ssh.Config
		wantKex string
		wantErr string // the part of the negotiation that fails; "" when it succeeds
	}{
		{"medium guest", medium, ssh.KeyExchangeMLKEM768X25519, ""},
		{"4096-bit DH with CTR", ssh.Config{
			KeyExchanges: []string{ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeCurve25519},
			Ciphers:      []string{ssh.CipherAES128CTR, ssh.CipherAES256CTR},
			MACs:         medium.MACs,
		}, ssh.KeyExchangeDH16SHA512, ""},
		{"aes128-ctr only", ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}}, "", "cipher"},
		// OpenSSH 9.2's default order: it lacks mlkem768x25519-sha256 and lands on curve25519.
		{"OpenSSH 9.2", ssh.Config{
			KeyExchanges: []string{ssh.KeyExchangeCurve25519, "curve25519-sha256@libssh.org", ssh.KeyExchangeECDHP256, ssh.KeyExchangeDHGEXSHA256, ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeDH14SHA256},
			Ciphers:      []string{ssh.CipherChaCha20Poly1305, ssh.CipherAES128CTR, ssh.CipherAES256CTR, ssh.CipherAES128GCM, ssh.CipherAES256GCM},
			MACs:         medium.MACs,
		}, ssh.KeyExchangeCurve25519, ""},
		{"P-256 ECDH only", ssh.Config{KeyExchanges: []string{ssh.KeyExchangeECDHP256}}, "", "key exchange"},
		{"hmac-sha1 only", ssh.Config{Ciphers: []string{ssh.CipherAES256CTR}, MACs: []string{ssh.HMACSHA1}}, "", "MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			signer := f.clientConfig(t, f.Cert(t, nil)).Signer
			conn, served := hostConn(t, t.Context(), f.serverConfig())
			c, chans, reqs, err := ssh.NewClientConn(conn, "host", &ssh.ClientConfig{
				Config:          tt.offer,
				User:            sshtest.Principal,
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.FixedHostKey(f.HostKey.PublicKey()),
			})
			if tt.wantErr != "" {
				var negErr *ssh.AlgorithmNegotiationError
				if !errors.As(err, &negErr) || !strings.Contains(err.Error(), "no common algorithm for") || !strings.Contains(negErr.What, tt.wantErr) {
					t.Fatalf("handshake error %v, want no common algorithm for %s", err, tt.wantErr)
				}
				if err := served(); err == nil || !strings.Contains(err.Error(), "no common algorithm") {
					t.Errorf("ServeSSH = %v, want no common algorithm", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			client := ssh.NewClient(c, chans, reqs)
			defer client.Close()
			got := client.Conn.(ssh.AlgorithmsConnMetadata).Algorithms()
			allowed, _ := endpoint.Algorithms(access.LevelVeryHigh)
			if got.KeyExchange != tt.wantKex {
				t.Errorf("key exchange %s, want %s", got.KeyExchange, tt.wantKex)
			}
			for _, dir := range []ssh.DirectionAlgorithms{got.Read, got.Write} {
				aead := strings.HasSuffix(dir.Cipher, "gcm@openssh.com")
				if !slices.Contains(allowed.Ciphers, dir.Cipher) || (!aead && !slices.Contains(allowed.MACs, dir.MAC)) {
					t.Errorf("negotiated %+v, outside very_high", dir)
				}
			}
			var out strings.Builder
			if code, err := guest.Exec(t.Context(), client, "echo ok", nil, &out, nil); err != nil || code != 0 || out.String() != "ok\n" {
				t.Errorf("Exec = %d, %v, %q", code, err, out.String())
			}
		})
	}
}
