package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"

	"github.com/creack/pty"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint/hostauth"
)

// Limits and defaults of the Host's SSH server.
const (
	// DefaultShell runs shells and exec commands when SSHServerConfig.Shell is empty.
	DefaultShell = "/bin/sh"
	// HandshakeTimeout bounds the SSH handshake, authentication included, on both ends.
	HandshakeTimeout = 30 * time.Second
	// HostAuthTimeout bounds the Host's own schemes (a person may have to confirm or type a
	// password); the handshake may take this much longer when the Host has any.
	HostAuthTimeout = 2 * time.Minute
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
	// MaxRefusalBytes bounds a refusal message (the Guest reads at most this much of it).
	MaxRefusalBytes = 1 << 10
	// defaultPath is the PATH of programs when the Host agent itself has none.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// channelPTY names the terminal that a shell needs, beside the channel kinds of package access.
const channelPTY = "pty"

// Server-side errors that are not refusals (a refusal is a code of package access: the
// Host sends access.ErrChannelNotAllowed, ErrRequestRefused, ErrHostRefused and the certificate
// codes to the Guest).
var (
	// ErrSessionExpired reports a session ended by its certificate's expiry or its maximum duration.
	ErrSessionExpired = errors.New("endpoint: session reached the end of its validity")
	// ErrBadConfig reports an unusable SSHServerConfig or SSHClientConfig.
	ErrBadConfig = errors.New("endpoint: bad configuration")
)

// refusalPrefix starts every refusal line the Host sends the Guest:
//
//	"portcullis refused " code ": " human-readable message "\r\n"
//
// as the banner of a refused authentication, or on the channel's stderr before a refused request
// is answered (the channel is then closed, so the Guest reads the line up to EOF).
const refusalPrefix = "portcullis refused "

// refusalLine formats err as the line the Host sends the Guest.
func refusalLine(err error) string {
	return refusalPrefix + string(access.CodeOf(err)) + ": " + err.Error() + "\r\n"
}

// SSHServerConfig configures the Host's end of one session.
type SSHServerConfig struct {
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
	// Shell runs shells and exec commands (as Shell -c command); "" means DefaultShell.
	Shell string
	// Account is the local account programs run as; nil means the agent's own user.
	Account *Account
	// SFTPCommand runs the sftp server as a program (as Account), speaking SFTP on stdin and
	// stdout; empty serves SFTP inside the agent, which is refused when Account.Switch is set.
	SFTPCommand []string
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

// Validate returns every problem of the configuration at once, each wrapping ErrBadConfig.
func (c SSHServerConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...))
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
func (c SSHServerConfig) level() string {
	if c.Level != "" {
		return c.Level
	}
	return access.NormalizeLevel(c.Obligations.MinEncryption)
}

// sshServer serves one SSH connection on the Host.
type sshServer struct {
	ctx context.Context // the connection's context, for the authentication callbacks
	cfg SSHServerConfig // defaults applied
	log *slog.Logger
	now func() time.Time
	env []string // base environment of programs
	dir string   // working directory of programs
}

// ServeSSH runs the Host's SSH server on one relayed connection: it authenticates the Guest's
// certificate (certs.UserCertChecker), then serves the channels the obligations allow, each program
// running as the Host agent's own OS user. It returns when the connection ends: nil when the
// Guest hung up, ErrSessionExpired (wrapped) when the certificate or the maximum duration ran
// out, the context's error when ctx ended, and the refusal (wrapped, errors.Is works) when
// authentication failed. It always closes conn.
func ServeSSH(ctx context.Context, conn net.Conn, cfg SSHServerConfig) error {
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
	timeout := HandshakeTimeout
	if len(cfg.Auth) > 0 {
		timeout += HostAuthTimeout
	}
	sc, chans, reqs, err := serverHandshake(conn, conf, timeout)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("endpoint: ssh handshake: %w", context.Cause(ctx))
		}
		return err
	}
	cert, ok := sc.Permissions.ExtraData[certDataKey{}].(*ssh.Certificate)
	if !ok {
		_ = sc.Close()
		return fmt.Errorf("endpoint: ssh connection authenticated without a certificate: %w", access.ErrNotCertificate)
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
	go ssh.DiscardRequests(reqs)
	log.Info("ssh session started", "encryption", s.cfg.level(), "algorithms", negotiated(sc.Conn))
	s.serveChannels(sessCtx, log, grant{obligations: s.cfg.Obligations, cert: cert}, chans)
	if sessCtx.Err() != nil {
		log.Info("ssh session ended", "reason", context.Cause(sessCtx))
		return fmt.Errorf("endpoint: ssh session %s: %w", s.cfg.SessionID, context.Cause(sessCtx))
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
func newSSHServer(cfg SSHServerConfig) *sshServer {
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

// programEnv returns the base environment and working directory of the programs the Host runs:
// a fresh minimal environment, never the agent's own (which may hold secrets).
func programEnv(sessionID, shell string, account *Account) ([]string, string) {
	home, name := "/", ""
	if account != nil {
		home, name = account.Home, account.Name
	} else if u, err := user.Current(); err == nil {
		home, name = u.HomeDir, u.Username
	}
	if st, err := os.Stat(home); err != nil || !st.IsDir() {
		home = "/"
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	return []string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "SHELL=" + shell, "PATH=" + path,
		"PORTCULLIS_SESSION_ID=" + sessionID,
	}, home
}

// certDataKey keys the Guest's certificate in ssh.Permissions.ExtraData.
type certDataKey struct{}

// sshConfig builds the x/crypto server configuration.
func (s *sshServer) sshConfig() (*ssh.ServerConfig, error) {
	algs, err := Algorithms(s.cfg.level())
	if err != nil {
		return nil, err
	}
	conf := &ssh.ServerConfig{
		Config:            algs,
		PublicKeyCallback: s.authenticate,
		ServerVersion:     "SSH-2.0-Portcullis",
	}
	if len(s.cfg.Auth) > 0 {
		conf.VerifiedPublicKeyCallback = s.authorize
	}
	conf.AddHostKey(s.cfg.HostKey)
	return conf, nil
}

// authenticate accepts only a certificate that passes certs.UserCertChecker; a refusal is sent to the
// Guest as a banner carrying the refusal line.
func (s *sshServer) authenticate(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	checker := certs.UserCertChecker{UserCA: s.cfg.UserCA, SessionID: s.cfg.SessionID, Now: s.now}
	cert, err := checker.Check(meta.User(), key)
	if err != nil {
		s.log.Warn("ssh certificate refused", "user", meta.User(), "reason", access.CodeOf(err), "err", err)
		return nil, &ssh.BannerError{Err: err, Message: refusalLine(err)}
	}
	s.log.Info("ssh certificate accepted", "user", meta.User(), "decision_id", cert.KeyId, "serial", cert.Serial)
	return &ssh.Permissions{
		Extensions: maps.Clone(cert.Extensions),
		ExtraData:  map[any]any{certDataKey{}: cert},
	}, nil
}

// serverHandshake runs the SSH handshake under HandshakeTimeout; an authentication failure
// comes back wrapping every refusal, so errors.Is finds them.
func serverHandshake(conn net.Conn, conf *ssh.ServerConfig, timeout time.Duration) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, error) {
	_ = conn.SetDeadline(time.Now().Add(timeout))
	sc, chans, reqs, err := ssh.NewServerConn(conn, conf)
	if err != nil {
		var authErr *ssh.ServerAuthError
		if errors.As(err, &authErr) {
			refused := slices.DeleteFunc(slices.Clone(authErr.Errors), func(e error) bool { return errors.Is(e, ssh.ErrNoAuth) })
			return nil, nil, nil, fmt.Errorf("endpoint: ssh authentication failed: %w", errors.Join(refused...))
		}
		return nil, nil, nil, fmt.Errorf("endpoint: ssh handshake: %w", err)
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

// grant is what one authenticated connection may do: the Host's obligations, narrowed by the
// certificate's extensions.
type grant struct {
	obligations access.Obligations
	cert        *ssh.Certificate
}

// allows returns nil when the channel kind (or channelPTY) is allowed, else an error wrapping
// ErrChannelNotAllowed that says what is allowed instead.
func (g grant) allows(kind string) error {
	switch kind {
	case channelPTY:
		if !g.obligations.Allows(access.ChannelShell) {
			return g.notAllowed("a terminal (pty-req)")
		}
		return g.needsExtension(certs.ExtensionPermitPTY, "a terminal")
	case access.ChannelForward:
		if !g.obligations.Allows(access.ChannelForward) {
			return g.notAllowed(access.ChannelForward)
		}
		return g.needsExtension(certs.ExtensionPermitPortForwarding, "port forwarding")
	default:
		if !g.obligations.Allows(kind) {
			return g.notAllowed(kind)
		}
		return nil
	}
}

// needsExtension checks that the certificate carries the extension.
func (g grant) needsExtension(ext, what string) error {
	if _, ok := g.cert.Extensions[ext]; !ok {
		return fmt.Errorf("endpoint: %w: %s needs the certificate's %s extension", access.ErrChannelNotAllowed, what, ext)
	}
	return nil
}

// notAllowed explains a refusal by the obligations.
func (g grant) notAllowed(what string) error {
	allowed := "nothing"
	if len(g.obligations.Channels) > 0 {
		allowed = strings.Join(g.obligations.Channels, ", ")
	}
	return fmt.Errorf("endpoint: %w: %s (this session allows: %s)", access.ErrChannelNotAllowed, what, allowed)
}

// allowsForward checks a port-forwarding target against the obligations' ForwardTargets
// ("HOST:PORT", HOST may be "*").
func (g grant) allowsForward(host string, port uint32) error {
	if err := g.allows(access.ChannelForward); err != nil {
		return err
	}
	want := strconv.FormatUint(uint64(port), 10)
	for _, target := range g.obligations.ForwardTargets {
		h, p, err := net.SplitHostPort(target)
		if err == nil && p == want && (h == "*" || strings.EqualFold(h, host)) {
			return nil
		}
	}
	return fmt.Errorf("endpoint: %w: forwarding to %s (allowed targets: %s)", access.ErrChannelNotAllowed,
		net.JoinHostPort(host, want), strings.Join(g.obligations.ForwardTargets, ", "))
}

// serveForward serves a "direct-tcpip" channel: the Host dials the target and splices.
func (s *sshServer) serveForward(ctx context.Context, log *slog.Logger, g grant, nc ssh.NewChannel) {
	msg, err := parseDirectTCPIP(nc.ExtraData())
	if err == nil {
		err = g.allowsForward(msg.Host, msg.Port)
	}
	if err != nil {
		log.Info("forward refused", "reason", access.CodeOf(err), "err", err)
		_ = nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	target := net.JoinHostPort(msg.Host, strconv.FormatUint(uint64(msg.Port), 10))
	dialer := net.Dialer{Timeout: ForwardDialTimeout}
	tc, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		log.Info("forward target unreachable", "target", target, "err", err)
		_ = nc.Reject(ssh.ConnectionFailed, fmt.Sprintf("the Host cannot reach %s", target))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = tc.Close()
		return
	}
	log.Info("forward started", "target", target)
	stop := context.AfterFunc(ctx, func() { _ = tc.Close() })
	defer stop()
	go func() {
		ssh.DiscardRequests(reqs)
		_ = tc.Close() // the channel is gone
	}()
	splice(ch, tc)
}

// splice copies both ways with half-close, then closes both ends.
func splice(ch ssh.Channel, tc net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(tc, ch)
		if cw, ok := tc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	})
	wg.Go(func() {
		_, _ = io.Copy(ch, tc)
		_ = ch.CloseWrite()
	})
	wg.Wait()
	_ = ch.Close()
	_ = tc.Close()
}

// serveSession accepts a "session" channel when the obligations allow anything it can run.
func (s *sshServer) serveSession(log *slog.Logger, g grant, nc ssh.NewChannel) {
	if g.allows(access.ChannelShell) != nil && g.allows(access.ChannelExec) != nil && g.allows(access.ChannelSFTP) != nil {
		err := g.notAllowed("session channels")
		log.Info("session channel refused", "err", err)
		_ = nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	sess := &session{srv: s, log: log, grant: g, ch: ch}
	for req := range reqs {
		sess.handle(req)
	}
	sess.stop()
}

// session is one "session" channel: its requests arrive in order on one goroutine; the running
// program is reported on another (finish).
type session struct {
	srv   *sshServer
	log   *slog.Logger
	grant grant
	ch    ssh.Channel
	env   []string // accepted "env" requests, NAME=value
	term  string   // terminal type from pty-req

	running bool                    // a program was started; a channel runs at most one
	wait    func() (string, []byte) // waits for the program; returns its exit request
	kill    func()                  // stops the program
	done    chan struct{}           // closed once the program's exit was reported

	mu   sync.Mutex
	pty  *pty.Winsize // requested terminal size; nil without pty-req
	ptmx *os.File     // the running program's terminal, nil when none
	pgid int          // the running program's process group, 0 when none
}

// handle serves one channel request.
func (s *session) handle(req *ssh.Request) {
	switch req.Type {
	case "env":
		s.reply(req, s.setenv(req.Payload))
	case "pty-req":
		s.requestPTY(req)
	case "window-change":
		s.reply(req, s.resize(req.Payload))
	case "signal":
		s.reply(req, s.signal(req.Payload))
	case "shell":
		s.start(req, access.ChannelShell, nil)
	case "exec":
		s.exec(req)
	case "subsystem":
		s.subsystem(req)
	default:
		s.reply(req, fmt.Errorf("endpoint: %w: request type %q", access.ErrRequestRefused, req.Type))
	}
}

// reply answers a minor request (env, window-change, signal, unknown ones) without a message.
func (s *session) reply(req *ssh.Request, err error) {
	if err != nil {
		s.log.Debug("request refused", "request", req.Type, "err", err)
	}
	_ = req.Reply(err == nil, nil)
}

// refuse answers a request with failure after sending the refusal line on stderr. A channel that
// has not started a program is closed after a refused shell, exec or subsystem request.
func (s *session) refuse(req *ssh.Request, err error, closeChannel bool) {
	s.log.Info("request refused", "request", req.Type, "reason", access.CodeOf(err), "err", err)
	_, _ = io.WriteString(s.ch.Stderr(), refusalLine(err))
	_ = req.Reply(false, nil)
	if closeChannel && !s.running {
		_ = s.ch.Close()
	}
}

// setenv accepts TERM, LANG and LC_* variables, at most MaxEnvVars of them.
func (s *session) setenv(payload []byte) error {
	msg, err := parseEnv(payload)
	if err != nil {
		return err
	}
	if !acceptedEnvName(msg.Name) || strings.ContainsRune(msg.Value, 0) || len(s.env) >= MaxEnvVars {
		return fmt.Errorf("endpoint: %w: environment variable %q not accepted", access.ErrRequestRefused, msg.Name)
	}
	s.env = append(s.env, msg.Name+"="+msg.Value)
	return nil
}

// acceptedEnvName reports whether a Guest may set the variable.
func acceptedEnvName(name string) bool {
	if name != "TERM" && name != "LANG" && !strings.HasPrefix(name, "LC_") {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return (r < 'A' || r > 'Z') && r != '_' })
}

// requestPTY records a terminal request when the session allows a terminal.
func (s *session) requestPTY(req *ssh.Request) {
	msg, err := parsePTYRequest(req.Payload)
	if err == nil {
		err = s.grant.allows(channelPTY)
	}
	if err == nil && s.running {
		err = fmt.Errorf("endpoint: %w: pty-req after the program started", access.ErrRequestRefused)
	}
	if err != nil {
		s.refuse(req, err, false)
		return
	}
	size := winsize(msg.Columns, msg.Rows, msg.Width, msg.Height)
	s.mu.Lock()
	s.pty = &size
	s.mu.Unlock()
	s.term = msg.Term
	_ = req.Reply(true, nil)
}

// resize applies a window change to the terminal.
func (s *session) resize(payload []byte) error {
	msg, err := parseWindowChange(payload)
	if err != nil {
		return err
	}
	size := winsize(msg.Columns, msg.Rows, msg.Width, msg.Height)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty == nil {
		return fmt.Errorf("endpoint: %w: window-change without a terminal", access.ErrRequestRefused)
	}
	*s.pty = size
	if s.ptmx != nil {
		return pty.Setsize(s.ptmx, &size)
	}
	return nil
}

// signal delivers a signal request to the running program's process group.
func (s *session) signal(payload []byte) error {
	msg, err := parseSignal(payload)
	if err != nil {
		return err
	}
	sig, ok := osSignal(msg.Signal)
	if !ok {
		return fmt.Errorf("endpoint: %w: unknown signal %q", access.ErrRequestRefused, msg.Signal)
	}
	return s.signalGroup(sig)
}

// signalGroup signals the running program's process group.
func (s *session) signalGroup(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pgid == 0 {
		return fmt.Errorf("endpoint: %w: no program is running", access.ErrRequestRefused)
	}
	return syscall.Kill(-s.pgid, sig)
}

// exec starts "Shell -c command".
func (s *session) exec(req *ssh.Request) {
	msg, err := parseExec(req.Payload)
	if err != nil {
		s.refuse(req, err, true)
		return
	}
	s.start(req, access.ChannelExec, []string{"-c", msg.Command})
}

// subsystem starts the sftp server, the only subsystem served.
func (s *session) subsystem(req *ssh.Request) {
	msg, err := parseSubsystem(req.Payload)
	if err == nil && msg.Name != access.ChannelSFTP {
		err = fmt.Errorf("endpoint: %w: subsystem %q is not offered", access.ErrRequestRefused, msg.Name)
	}
	if err == nil {
		err = s.grant.allows(access.ChannelSFTP)
	}
	if err == nil && s.running {
		err = fmt.Errorf("endpoint: %w: this channel already runs a program", access.ErrRequestRefused)
	}
	if err == nil {
		err = s.launchSFTP()
	}
	if err != nil {
		s.refuse(req, err, true)
		return
	}
	_ = req.Reply(true, nil)
	go s.finish()
}

// start runs the shell with args (nil for an interactive shell) when kind is allowed.
func (s *session) start(req *ssh.Request, kind string, args []string) {
	err := s.grant.allows(kind)
	if err == nil && s.running {
		err = fmt.Errorf("endpoint: %w: this channel already runs a program", access.ErrRequestRefused)
	}
	if err == nil {
		err = s.launch(args)
	}
	if err != nil {
		s.refuse(req, err, true)
		return
	}
	_ = req.Reply(true, nil)
	go s.finish()
}

// launch starts the shell with args on the terminal, if one was requested, or on pipes.
func (s *session) launch(args []string) error {
	s.mu.Lock()
	size := s.pty
	s.mu.Unlock()
	return s.launchCmd(exec.Command(s.srv.cfg.Shell, args...), size)
}

// launchCmd starts cmd as the session's program, as the configured account.
func (s *session) launchCmd(cmd *exec.Cmd, size *pty.Winsize) error {
	cmd.Env = s.environment()
	cmd.Dir = s.srv.dir
	cmd.SysProcAttr = s.srv.cfg.Account.sysProcAttr(size == nil)
	var wait func()
	var err error
	if size != nil {
		wait, err = s.startOnPTY(cmd, *size)
	} else {
		wait, err = s.startOnPipes(cmd)
	}
	if err != nil {
		return fmt.Errorf("endpoint: %w: start %s: %w", access.ErrRequestRefused, cmd.Path, err)
	}
	s.mu.Lock()
	s.pgid = cmd.Process.Pid // the program leads its own process group
	s.mu.Unlock()
	s.log.Info("program started", "args", cmd.Args, "pty", size != nil, "pid", cmd.Process.Pid)
	s.running, s.done = true, make(chan struct{})
	s.kill = func() { _ = s.signalGroup(syscall.SIGKILL) }
	s.wait = func() (string, []byte) {
		wait()
		s.mu.Lock()
		s.pgid = 0
		s.mu.Unlock()
		return exitRequest(cmd.ProcessState)
	}
	return nil
}

// environment is the program's environment: the base, the terminal type, the Guest's variables.
func (s *session) environment() []string {
	env := slices.Clone(s.srv.env)
	if s.term != "" {
		env = append(env, "TERM="+s.term)
	}
	return append(env, s.env...)
}

// startOnPipes starts cmd in its own process group with stdin, stdout and stderr on the channel.
func (s *session) startOnPipes(cmd *exec.Cmd) (func(), error) {
	cmd.Stdout = s.ch
	cmd.Stderr = s.ch.Stderr()
	cmd.WaitDelay = OutputDrainTimeout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_, _ = io.Copy(stdin, s.ch)
		_ = stdin.Close()
	}()
	return func() { _ = cmd.Wait() }, nil
}

// startOnPTY starts cmd as a session leader on a new terminal relayed over the channel.
func (s *session) startOnPTY(cmd *exec.Cmd, size pty.Winsize) (func(), error) {
	ptmx, err := pty.StartWithSize(cmd, &size)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ptmx = ptmx
	s.mu.Unlock()
	go func() { _, _ = io.Copy(ptmx, s.ch) }()
	out := make(chan struct{})
	go func() {
		_, _ = io.Copy(s.ch, ptmx) // ends with EIO once every holder of the terminal is gone
		close(out)
	}()
	return func() {
		_ = cmd.Wait()
		select {
		case <-out:
		case <-time.After(OutputDrainTimeout):
		}
		s.mu.Lock()
		_ = ptmx.Close()
		s.ptmx = nil
		s.mu.Unlock()
		<-out
	}, nil
}

// launchSFTP starts the sftp server on the channel, in the working directory of programs: as a
// program run as the account when SFTPCommand is set, else inside the agent.
func (s *session) launchSFTP() error {
	if c := s.srv.cfg.SFTPCommand; len(c) > 0 {
		return s.launchCmd(exec.Command(c[0], c[1:]...), nil)
	}
	if s.srv.cfg.Account != nil && s.srv.cfg.Account.Switch {
		return fmt.Errorf("endpoint: %w: sftp as %s needs an sftp server program", access.ErrRequestRefused, s.srv.cfg.Account.Name)
	}
	server, err := sftp.NewServer(s.ch, sftp.WithServerWorkingDirectory(s.srv.dir))
	if err != nil {
		return fmt.Errorf("endpoint: %w: start sftp: %w", access.ErrRequestRefused, err)
	}
	s.log.Info("sftp started")
	s.running, s.done = true, make(chan struct{})
	s.kill = func() { _ = server.Close() }
	s.wait = func() (string, []byte) {
		status := uint32(0)
		if err := server.Serve(); err != nil && !errors.Is(err, io.EOF) {
			s.log.Info("sftp ended", "err", err)
			status = 1
		}
		return "exit-status", ssh.Marshal(exitStatusMsg{Status: status})
	}
	return nil
}

// finish waits for the program, reports its exit and closes the channel.
func (s *session) finish() {
	defer close(s.done)
	name, payload := s.wait()
	_, _ = s.ch.SendRequest(name, false, payload)
	_ = s.ch.CloseWrite()
	_ = s.ch.Close()
	s.log.Info("program ended", "exit", name)
}

// stop ends the program once the channel is gone, and waits until its exit was handled.
func (s *session) stop() {
	if !s.running {
		return
	}
	s.kill()
	<-s.done
}

// exitRequest returns the "exit-status" or "exit-signal" request for a finished process.
func exitRequest(state *os.ProcessState) (string, []byte) {
	if state == nil {
		return "exit-status", ssh.Marshal(exitStatusMsg{Status: 255})
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		if name, ok := sshSignal(ws.Signal()); ok {
			return "exit-signal", ssh.Marshal(exitSignalMsg{Signal: name, CoreDumped: ws.CoreDump()})
		}
		return "exit-status", ssh.Marshal(exitStatusMsg{Status: 128 + uint32(ws.Signal())})
	}
	return "exit-status", ssh.Marshal(exitStatusMsg{Status: uint32(state.ExitCode())})
}

// signalNames maps RFC 4254 signal names to signals.
func signalNames() []struct {
	name string
	sig  syscall.Signal
} {
	return []struct {
		name string
		sig  syscall.Signal
	}{
		{"ABRT", syscall.SIGABRT}, {"ALRM", syscall.SIGALRM}, {"FPE", syscall.SIGFPE},
		{"HUP", syscall.SIGHUP}, {"ILL", syscall.SIGILL}, {"INT", syscall.SIGINT},
		{"KILL", syscall.SIGKILL}, {"PIPE", syscall.SIGPIPE}, {"QUIT", syscall.SIGQUIT},
		{"SEGV", syscall.SIGSEGV}, {"TERM", syscall.SIGTERM}, {"USR1", syscall.SIGUSR1},
		{"USR2", syscall.SIGUSR2},
	}
}

// osSignal returns the signal of an RFC 4254 signal name.
func osSignal(name string) (syscall.Signal, bool) {
	for _, s := range signalNames() {
		if s.name == name {
			return s.sig, true
		}
	}
	return 0, false
}

// sshSignal returns the RFC 4254 name of a signal.
func sshSignal(sig syscall.Signal) (string, bool) {
	for _, s := range signalNames() {
		if s.sig == sig {
			return s.name, true
		}
	}
	return "", false
}

// Request and channel payloads (RFC 4254), decoded with ssh.Unmarshal.
type (
	// ptyRequestMsg is the payload of "pty-req".
	ptyRequestMsg struct {
		Term                         string
		Columns, Rows, Width, Height uint32
		Modes                        string
	}
	// windowChangeMsg is the payload of "window-change".
	windowChangeMsg struct {
		Columns, Rows, Width, Height uint32
	}
	// execMsg is the payload of "exec".
	execMsg struct {
		Command string
	}
	// envMsg is the payload of "env".
	envMsg struct {
		Name, Value string
	}
	// subsystemMsg is the payload of "subsystem".
	subsystemMsg struct {
		Name string
	}
	// signalMsg is the payload of "signal".
	signalMsg struct {
		Signal string
	}
	// directTCPIPMsg is the extra data of a "direct-tcpip" channel open.
	directTCPIPMsg struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	// exitStatusMsg is the payload of "exit-status".
	exitStatusMsg struct {
		Status uint32
	}
	// exitSignalMsg is the payload of "exit-signal".
	exitSignalMsg struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

// parsePayload decodes a request payload of the named kind into T.
func parsePayload[T any](kind string, payload []byte) (T, error) {
	var msg T
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return msg, fmt.Errorf("endpoint: %w: malformed %s payload: %w", access.ErrRequestRefused, kind, err)
	}
	return msg, nil
}

// parsePTYRequest decodes "pty-req".
func parsePTYRequest(payload []byte) (ptyRequestMsg, error) {
	msg, err := parsePayload[ptyRequestMsg]("pty-req", payload)
	if err == nil && strings.ContainsRune(msg.Term, 0) {
		err = fmt.Errorf("endpoint: %w: terminal type contains NUL", access.ErrRequestRefused)
	}
	return msg, err
}

// parseWindowChange decodes "window-change".
func parseWindowChange(payload []byte) (windowChangeMsg, error) {
	return parsePayload[windowChangeMsg]("window-change", payload)
}

// parseExec decodes "exec" and bounds the command.
func parseExec(payload []byte) (execMsg, error) {
	msg, err := parsePayload[execMsg]("exec", payload)
	if err == nil && (len(msg.Command) > MaxCommandBytes || strings.ContainsRune(msg.Command, 0)) {
		err = fmt.Errorf("endpoint: %w: command longer than %d bytes or containing NUL", access.ErrRequestRefused, MaxCommandBytes)
	}
	return msg, err
}

// parseEnv decodes "env".
func parseEnv(payload []byte) (envMsg, error) {
	return parsePayload[envMsg]("env", payload)
}

// parseSubsystem decodes "subsystem".
func parseSubsystem(payload []byte) (subsystemMsg, error) {
	return parsePayload[subsystemMsg]("subsystem", payload)
}

// parseSignal decodes "signal".
func parseSignal(payload []byte) (signalMsg, error) {
	return parsePayload[signalMsg]("signal", payload)
}

// parseDirectTCPIP decodes a "direct-tcpip" channel's extra data.
func parseDirectTCPIP(data []byte) (directTCPIPMsg, error) {
	return parsePayload[directTCPIPMsg]("direct-tcpip", data)
}

// winsize converts SSH's uint32 terminal dimensions, clamped to the terminal's uint16 fields.
func winsize(cols, rows, width, height uint32) pty.Winsize {
	clamp := func(v uint32) uint16 { return uint16(min(v, uint32(^uint16(0)))) }
	return pty.Winsize{Rows: clamp(rows), Cols: clamp(cols), X: clamp(width), Y: clamp(height)}
}
