package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/internal/sshtest"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func TestExecKeepsStreamsApartAndReturnsTheExitStatus(t *testing.T) {
	client := connected(t, newFixture(t))
	tests := []struct {
		cmd              string
		wantOut, wantErr string
		wantCode         int
	}{
		{"echo out; echo err >&2; exit 7", "out\n", "err\n", 7},
		{"printf '%s' \"$PORTCULLIS_SESSION_ID\"", "sess-TestExecKeepsStreamsApartAndReturnsTheExitStatus", "", 0},
		{"kill -TERM $$", "", "", 128 + int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := guest.Exec(t.Context(), client, tt.cmd, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || stdout.String() != tt.wantOut || stderr.String() != tt.wantErr {
				t.Errorf("code %d stdout %q stderr %q; want %d %q %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestShellRunsOnATerminal(t *testing.T) {
	client := connected(t, newFixture(t))
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := newTranscript()
	sess.Stdout = out
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Setenv("LANG", "C.UTF-8"); err != nil {
		t.Fatalf("LANG refused: %v", err)
	}
	if err := sess.Setenv("SECRET", "x"); err == nil {
		t.Error("an arbitrary environment variable was accepted")
	}
	if err := sess.RequestPty("xterm-test", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	// The terminal echoes typed lines, so only a command's output contains the computed text.
	if _, err := io.WriteString(stdin, "test -t 0 && echo on-a-tty; echo term-$TERM lang-$LANG; stty size\n"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "on-a-tty")
	out.MustSee(t, "term-xterm-test lang-C.UTF-8")
	out.MustSee(t, "24 80")
	ok, err := sess.SendRequest("window-change", true, ssh.Marshal(windowChangeMsg{Columns: 100, Rows: 40}))
	if err != nil || !ok {
		t.Fatalf("window-change = %v, %v", ok, err)
	}
	if _, err := io.WriteString(stdin, "stty size; echo hi-$((1+2)); exit 3\n"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "40 100")
	out.MustSee(t, "hi-3")
	var exitErr *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
}

func TestSignalReachesTheProgram(t *testing.T) {
	client := connected(t, newFixture(t))
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := newTranscript()
	sess.Stdout = out
	// The trap is set before "ready" is printed, so the signal cannot arrive too early.
	if err := sess.Start("trap 'exit 42' INT; echo ready; while :; do sleep 1; done"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "ready")
	if err := sess.Signal(ssh.SIGINT); err != nil {
		t.Fatal(err)
	}
	var exitErr *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 42 {
		t.Fatalf("Wait = %v, want exit status 42 from the INT trap", err)
	}
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns the log so far.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
			var log logBuffer
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

func TestHostRefusesWhatTheObligationsDoNotAllow(t *testing.T) {
	tests := []struct {
		name     string
		channels []string
		do       func(t *testing.T, c *ssh.Client) error
		wantIs   error
		wantText string
	}{
		{"exec when only shell is allowed", []string{"shell"}, func(t *testing.T, c *ssh.Client) error {
			_, err := guest.Exec(t.Context(), c, "id", nil, nil)
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
			_, err := guest.Exec(t.Context(), c, "id", nil, nil)
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

// echoTarget listens on loopback and answers each connection with "echo:" and what it read.
func echoTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(conn)
			_, _ = conn.Write(append([]byte("echo:"), data...))
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

func TestForwardReachesOnlyAllowedTargets(t *testing.T) {
	target := echoTarget(t)
	_, port, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatal(err)
	}
	otherPort := strconv.Itoa(mustAtoi(t, port) + 1)
	tests := []struct {
		name    string
		allowed []string
		dial    string
		wantOK  bool
	}{
		{"exact target", []string{target}, target, true},
		{"any host on the port", []string{"*:" + port}, target, true},
		{"other port", []string{target}, net.JoinHostPort("127.0.0.1", otherPort), false},
		{"other host", []string{"db.internal:" + port}, target, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.Obligations.ForwardTargets = tt.allowed
			client := connected(t, f)
			conn, err := client.Dial("tcp", tt.dial)
			if !tt.wantOK {
				if err == nil || !strings.Contains(err.Error(), "not allowed by the session's obligations") {
					t.Fatalf("Dial = %v, want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "ping"); err != nil {
				t.Fatal(err)
			}
			if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn)
			if err != nil || string(got) != "echo:ping" {
				t.Fatalf("read %q, %v; want echo:ping", got, err)
			}
		})
	}
}

// mustAtoi parses a decimal port.
func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSFTPTransfersFiles(t *testing.T) {
	client := connected(t, newFixture(t))
	sc, err := sftp.NewClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	path := filepath.Join(t.TempDir(), "upload.txt")
	w, err := sc.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello over sftp"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || string(onDisk) != "hello over sftp" {
		t.Fatalf("file on the Host: %q, %v", onDisk, err)
	}
	r, err := sc.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if back, err := io.ReadAll(r); err != nil || string(back) != "hello over sftp" {
		t.Fatalf("read back %q, %v", back, err)
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
		_, err := guest.Exec(t.Context(), p.client, "echo started; exec sleep 60", out, nil)
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

// roundTrip checks that a decoded payload encodes back to exactly the payload, and that a
// refused payload is refused with ErrRequestRefused.
func roundTrip[T any](t *testing.T, parse func([]byte) (T, error), payload []byte) {
	msg, err := parse(payload)
	if err != nil {
		if !errors.Is(err, access.ErrRequestRefused) {
			t.Fatalf("refusal %v does not wrap access.ErrRequestRefused", err)
		}
		return
	}
	if again := ssh.Marshal(&msg); !bytes.Equal(again, payload) {
		t.Fatalf("%T decoded from %x encodes to %x", msg, payload, again)
	}
}

func FuzzRequestPayloads(f *testing.F) {
	f.Add(ssh.Marshal(ptyRequestMsg{Term: "xterm", Columns: 80, Rows: 24}))
	f.Add(ssh.Marshal(windowChangeMsg{Columns: 1 << 20, Rows: 40}))
	f.Add(ssh.Marshal(execMsg{Command: "echo hi"}))
	f.Add(ssh.Marshal(envMsg{Name: "LC_ALL", Value: "C"}))
	f.Add(ssh.Marshal(signalMsg{Signal: "INT"}))
	f.Add(ssh.Marshal(directTCPIPMsg{Host: "db", Port: 5432, OriginHost: "127.0.0.1", OriginPort: 1}))
	f.Add([]byte{0, 0, 0, 5, 'x'})
	f.Fuzz(func(t *testing.T, payload []byte) {
		roundTrip(t, parsePTYRequest, payload)
		roundTrip(t, parseWindowChange, payload)
		roundTrip(t, parseExec, payload)
		roundTrip(t, parseEnv, payload)
		roundTrip(t, parseSubsystem, payload)
		roundTrip(t, parseSignal, payload)
		roundTrip(t, parseDirectTCPIP, payload)
		if msg, err := parseWindowChange(payload); err == nil {
			ws := winsize(msg.Columns, msg.Rows, msg.Width, msg.Height)
			if uint32(ws.Cols) != min(msg.Columns, 1<<16-1) || uint32(ws.Rows) != min(msg.Rows, 1<<16-1) {
				t.Fatalf("winsize(%+v) = %+v", msg, ws)
			}
		}
	})
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
		{"curve25519 only", ssh.Config{KeyExchanges: []string{ssh.KeyExchangeCurve25519}}, "", "key exchange"},
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
			if code, err := guest.Exec(t.Context(), client, "echo ok", &out, nil); err != nil || code != 0 || out.String() != "ok\n" {
				t.Errorf("Exec = %d, %v, %q", code, err, out.String())
			}
		})
	}
}
