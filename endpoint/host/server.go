package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/hostauth"
)

// Limits and defaults of the Host's SSH server (DefaultShell is in the OS's process file, its
// value in defaults.go).
const (
	// AuthTimeout bounds the Host's own schemes (a person may have to confirm or type a
	// password); the handshake may take this much longer than endpoint.HandshakeTimeout when
	// the Host has any.
	AuthTimeout = 2 * time.Minute
	// OutputDrainTimeout is how long a program's output is still relayed after it exits (a
	// background child may hold its output open); then the output is cut.
	OutputDrainTimeout = 2 * time.Second
	// ForwardDialTimeout bounds the Host's TCP dial to a port-forwarding target.
	ForwardDialTimeout = 10 * time.Second
	// MaxChannels bounds the channels open at once on one connection.
	MaxChannels = 64
	// MaxEnvVars bounds the environment variables a Guest may set per channel.
	MaxEnvVars = 32
	// MaxCommandBytes bounds the length of an exec command.
	MaxCommandBytes = 64 << 10
)

// ErrSessionExpired reports a session ended by its certificate's expiry or its maximum
// duration. It is not a refusal: refusals are codes of package access, which the Host sends
// the Guest (access.ErrChannelNotAllowed, ErrRequestRefused, ErrHostRefused and the
// certificate codes).
var ErrSessionExpired = errors.New("host: session reached the end of its validity")

// SSHConfig configures the Host's end of one session.
type SSHConfig struct {
	// HostKey is the Host's SSH key; the Guest pins its public half. Required.
	HostKey ssh.Signer
	// UserCA is the Connection Manager's SSH user CA. Required.
	UserCA ssh.PublicKey
	// SessionID is the session id from the Host's ticket; the certificate must carry it. Required.
	SessionID string
	// Obligations say which channels are served and the session's maximum duration.
	Obligations access.Obligations
	// Level is the encryption level this end uses; "" means Obligations.MinEncryption, or
	// access.DefaultLevel when that is empty too. It must be at least Obligations.MinEncryption.
	Level string
	// Shell runs shells and exec commands (as `Shell -c command`; `Shell /C command` on
	// Windows); "" means DefaultShell.
	Shell string
	// Account is the local account programs run as; nil means the agent's own user.
	Account *Account
	// SFTPCommand runs the sftp server as a program (as Account), speaking SFTP on stdin and
	// stdout; empty serves SFTP inside the agent, which is refused when Account.Switch is set.
	SFTPCommand []string
	// SFTPReadMax is the most file data the SFTP server answers one read request with,
	// announced to the Guest (endpoint.SFTPPacketRequest), which then asks for that much per
	// request: between endpoint.SFTPPacketMax and endpoint.SFTPLargePacket. The agent's own
	// server reads this much; an SFTPCommand program must read at least as much. 0 announces
	// nothing, and the Guest asks for endpoint.SFTPPacketMax, which every SFTP server answers
	// whole (as from a Host from before the announcement).
	SFTPReadMax int
	// Auth is the Host owner's chain of schemes, run after the certificate check; all must allow.
	Auth hostauth.Chain
	// HostName is this Host's name, for the schemes.
	HostName string
	// Logger receives the session's log; nil discards it.
	Logger *slog.Logger
	// Now is the clock for certificate checks; nil means time.Now.
	Now func() time.Time
	// OnChannel, if set, is called for every channel the Guest asks to open.
	OnChannel func(kind string)
}

// Validate returns every problem of the configuration at once, each wrapping
// endpoint.ErrBadConfig.
func (c SSHConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{endpoint.ErrBadConfig}, args...)...))
	}
	if c.HostKey == nil {
		bad("no host key")
	}
	if c.UserCA == nil {
		bad("no user CA")
	}
	if c.SessionID == "" {
		bad("no session id")
	}
	if c.Shell != "" && !filepath.IsAbs(c.Shell) {
		bad("shell %q is not an absolute path", c.Shell)
	}
	if c.SFTPReadMax != 0 && (c.SFTPReadMax < endpoint.SFTPPacketMax || c.SFTPReadMax > endpoint.SFTPLargePacket) {
		bad("sftp read size %d is outside %d to %d", c.SFTPReadMax, endpoint.SFTPPacketMax, endpoint.SFTPLargePacket)
	}
	if _, err := access.LevelRank(c.Obligations.MinEncryption); err != nil {
		bad("obligations: %w", err)
	} else if _, err := access.LevelRank(c.level()); err != nil {
		bad("encryption: %w", err)
	} else if !access.LevelAtLeast(c.level(), c.Obligations.MinEncryption) {
		bad("encryption %q is weaker than the obligations' minimum %q", c.level(), c.Obligations.MinEncryption)
	}
	return errors.Join(errs...)
}

// level is the encryption level this end uses.
func (c SSHConfig) level() string {
	if c.Level != "" {
		return c.Level
	}
	return access.NormalizeLevel(c.Obligations.MinEncryption)
}

// sshServer serves one SSH connection on the Host.
type sshServer struct {
	ctx context.Context // the connection's context, for the authentication callbacks
	cfg SSHConfig       // defaults applied
	log *slog.Logger
	now func() time.Time
	env []string // base environment of programs
	dir string   // working directory of programs
}

// ServeSSH runs the Host's SSH server on one relayed connection: it authenticates the Guest's
// certificate (certs.UserCertChecker), runs the Host owner's schemes (cfg.Auth), then serves
// the channels the obligations allow, each program running as cfg.Account (the agent's own
// user when nil). It returns when the connection ends: nil when the Guest hung up,
// ErrSessionExpired (wrapped) when the certificate or the maximum duration ran out, the
// context's error when ctx ended, and the refusal (wrapped, errors.Is works) when
// authentication failed. It always closes conn.
func ServeSSH(ctx context.Context, conn net.Conn, cfg SSHConfig) error {
	defer func() { _ = conn.Close() }()
	if err := cfg.Validate(); err != nil {
		return err
	}
	s := newSSHServer(cfg)
	s.ctx = ctx
	conf, err := s.sshConfig()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	timeout := endpoint.HandshakeTimeout
	if len(cfg.Auth) > 0 {
		timeout += AuthTimeout
	}
	sc, chans, reqs, err := serverHandshake(conn, conf, timeout)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("host: ssh handshake: %w", context.Cause(ctx))
		}
		return err
	}
	cert, ok := sc.Permissions.ExtraData[certDataKey{}].(*ssh.Certificate)
	if !ok {
		_ = sc.Close()
		return fmt.Errorf("host: ssh connection authenticated without a certificate: %w", access.ErrNotCertificate)
	}
	log := s.log.With("user", sc.User(), "decision_id", cert.KeyId)
	end := s.deadline(cert)
	sessCtx, cancel := context.WithDeadlineCause(ctx, end, ErrSessionExpired)
	defer cancel()
	defer warnBeforeEnd(sc, end)()
	stop() // from here on, the end of sessCtx closes the connection, telling the Guest why
	context.AfterFunc(sessCtx, func() {
		noticeEnd(sc, context.Cause(sessCtx))
		_ = sc.Close()
	})
	go answerGlobalRequests(reqs, s.cfg.SFTPReadMax)
	log.Info("ssh session started", "encryption", s.cfg.level(), "algorithms", negotiated(sc.Conn))
	s.serveChannels(sessCtx, log, grant{obligations: s.cfg.Obligations, cert: cert}, chans)
	if sessCtx.Err() != nil {
		log.Info("ssh session ended", "reason", context.Cause(sessCtx))
		return fmt.Errorf("host: ssh session %s: %w", s.cfg.SessionID, context.Cause(sessCtx))
	}
	log.Info("ssh session ended", "reason", "guest hung up")
	return nil
}

// negotiated describes the algorithms the connection negotiated, for the log.
func negotiated(conn ssh.Conn) string {
	meta, ok := conn.(ssh.AlgorithmsConnMetadata)
	if !ok {
		return "unknown"
	}
	a := meta.Algorithms()
	return fmt.Sprintf("kex=%s cipher=%s/%s mac=%s/%s hostkey=%s", a.KeyExchange, a.Read.Cipher, a.Write.Cipher, a.Read.MAC, a.Write.MAC, a.HostKey)
}

// newSSHServer applies the configuration's defaults.
func newSSHServer(cfg SSHConfig) *sshServer {
	if cfg.Shell == "" {
		cfg.Shell = DefaultShell
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	env, dir := programEnv(cfg.SessionID, cfg.Shell, cfg.Account)
	return &sshServer{cfg: cfg, log: log.With("session_id", cfg.SessionID), now: now, env: env, dir: dir}
}

// certDataKey keys the Guest's certificate in ssh.Permissions.ExtraData.
type certDataKey struct{}

// sshConfig builds the x/crypto server configuration.
func (s *sshServer) sshConfig() (*ssh.ServerConfig, error) {
	algs, err := endpoint.Algorithms(s.cfg.level())
	if err != nil {
		return nil, err
	}
	conf := &ssh.ServerConfig{
		Config:            algs,
		PublicKeyCallback: s.checkCertificate,
		ServerVersion:     "SSH-2.0-Portcullis",
	}
	if len(s.cfg.Auth) > 0 {
		conf.VerifiedPublicKeyCallback = s.runSchemes
	}
	conf.AddHostKey(s.cfg.HostKey)
	return conf, nil
}

// checkCertificate authenticates the Guest: it accepts only a certificate that passes
// certs.UserCertChecker; a refusal is sent to the Guest as a banner carrying the refusal line.
func (s *sshServer) checkCertificate(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	checker := certs.UserCertChecker{UserCA: s.cfg.UserCA, SessionID: s.cfg.SessionID, Now: s.now}
	cert, err := checker.Check(meta.User(), key)
	if err != nil {
		s.log.Warn("ssh certificate refused", "user", meta.User(), "reason", access.CodeOf(err), "err", err)
		return nil, &ssh.BannerError{Err: err, Message: endpoint.RefusalLine(err)}
	}
	s.log.Info("ssh certificate accepted", "user", meta.User(), "decision_id", cert.KeyId, "serial", cert.Serial)
	return &ssh.Permissions{
		Extensions: maps.Clone(cert.Extensions),
		ExtraData:  map[any]any{certDataKey{}: cert},
	}, nil
}

// serverHandshake runs the SSH handshake within timeout; an authentication failure comes back
// wrapping every refusal, so errors.Is finds them.
func serverHandshake(conn net.Conn, conf *ssh.ServerConfig, timeout time.Duration) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	_ = conn.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
	if err != nil {
		var authErr *ssh.ServerAuthError
		if errors.As(err, &authErr) {
			refused := slices.DeleteFunc(slices.Clone(authErr.Errors), func(e error) bool { return errors.Is(e, ssh.ErrNoAuth) })
			return nil, nil, nil, fmt.Errorf("host: ssh authentication failed: %w", errors.Join(refused...))
		}
		return nil, nil, nil, fmt.Errorf("host: ssh handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return sc, chans, reqs, nil
}

// deadline is when the session must end: at the certificate's expiry, or earlier when the
// obligations' maximum duration runs out first.
func (s *sshServer) deadline(cert *ssh.Certificate) time.Time {
	now := s.now()
	end := certs.CertExpiry(cert)
	if d := s.cfg.Obligations.MaxDuration(); d > 0 && now.Add(d).Before(end) {
		end = now.Add(d)
	}
	return time.Now().Add(end.Sub(now))
}

// serveChannels serves channels until the connection ends, at most MaxChannels at once, then
// stops what is still running and waits for it.
func (s *sshServer) serveChannels(ctx context.Context, log *slog.Logger, g grant, chans <-chan ssh.NewChannel) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	slots := make(chan struct{}, MaxChannels)
	for nc := range chans {
		select {
		case slots <- struct{}{}:
		default:
			_ = nc.Reject(ssh.ResourceShortage, fmt.Sprintf("at most %d channels may be open at once", MaxChannels))
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.serveChannel(ctx, log, g, nc)
		})
	}
	cancel()
	wg.Wait()
}

// serveChannel dispatches one new channel by type.
func (s *sshServer) serveChannel(ctx context.Context, log *slog.Logger, g grant, nc ssh.NewChannel) {
	if s.cfg.OnChannel != nil {
		s.cfg.OnChannel(nc.ChannelType())
	}
	switch nc.ChannelType() {
	case "session":
		s.serveSession(log, g, nc)
	case "direct-tcpip":
		s.serveForward(ctx, log, g, nc)
	default:
		log.Info("channel refused", "type", nc.ChannelType())
		_ = nc.Reject(ssh.UnknownChannelType, fmt.Sprintf("channel type %q is not served by Portcullis", nc.ChannelType()))
	}
}
