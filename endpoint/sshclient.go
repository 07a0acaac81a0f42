package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/access"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// Terminal defaults of the Guest's interactive shell.
const (
	// DefaultTerm is the terminal type requested when $TERM is empty.
	DefaultTerm = "xterm-256color"
	// defaultCols and defaultRows size the remote terminal when the local size is unknown.
	defaultCols, defaultRows = 80, 24
	// maxRefusalCodeBytes bounds a refusal code on the wire.
	maxRefusalCodeBytes = 32
)

// ErrHostKeyMismatch reports a Host key other than the one the Connection Manager pinned.
var ErrHostKeyMismatch = errors.New("endpoint: host key does not match the pinned key")

// RefusedError is a refusal the Host sent the Guest. It unwraps to the refusal's sentinel error
// (access.ErrExpired, access.ErrWrongSession, ErrChannelNotAllowed, ...) so errors.Is works on both ends.
type RefusedError struct {
	// Code is the refusal's wire code (an access.Code).
	Code string
	// Message is the Host's explanation, stripped of control characters.
	Message string
}

// Error returns the code and the Host's explanation.
func (e *RefusedError) Error() string {
	return "host refused (" + e.Code + "): " + e.Message
}

// Unwrap returns the sentinel error of the code, or nil for a code this version does not know.
func (e *RefusedError) Unwrap() error {
	if c := access.Code(e.Code); c.Known() {
		return c
	}
	return nil
}

// parseRefusal finds the first refusal line in text sent by the Host.
func parseRefusal(text string) (*RefusedError, bool) {
	_, rest, ok := strings.Cut(text, refusalPrefix)
	if !ok {
		return nil, false
	}
	line, _, _ := strings.Cut(rest, "\n")
	code, msg, ok := strings.Cut(line, ": ")
	if !ok || !validRefusalCode(code) {
		return nil, false
	}
	return &RefusedError{Code: code, Message: sanitize(msg)}, true
}

// validRefusalCode reports whether code looks like a refusal code: lower case and underscores.
func validRefusalCode(code string) bool {
	return code != "" && len(code) <= maxRefusalCodeBytes &&
		!strings.ContainsFunc(code, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' })
}

// sanitize makes text from the Host safe to print on the Guest's terminal: valid UTF-8, no
// control characters (no terminal escape sequences), at most MaxRefusalBytes.
func sanitize(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(text, ""))
	if len(text) > MaxRefusalBytes {
		cut := MaxRefusalBytes
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	return strings.TrimSpace(text)
}

// SSHClientConfig configures the Guest's end of one session.
type SSHClientConfig struct {
	// User is the SSH user name: the certificate's principal (the subject). Required.
	User string
	// Signer authenticates with the certificate: ssh.NewCertSigner(cert, key). Required.
	Signer ssh.Signer
	// HostKey is the Host key pinned by the Connection Manager; no other is accepted. Required.
	HostKey ssh.PublicKey
	// Level is the encryption level this end uses; "" means access.DefaultLevel.
	Level string
	// Challenge answers the questions of the Host's own schemes (keyboard-interactive, e.g. a
	// host-local password); nil answers none, so such a scheme refuses.
	Challenge ssh.KeyboardInteractiveChallenge
	// Warnings receives the Host's notices, such as the session's approaching end; nil discards them.
	Warnings io.Writer
}

// Validate returns every problem of the configuration at once, each wrapping ErrBadConfig.
func (c SSHClientConfig) Validate() error {
	var errs []error
	if c.User == "" {
		errs = append(errs, fmt.Errorf("%w: no user", ErrBadConfig))
	}
	if c.Signer == nil {
		errs = append(errs, fmt.Errorf("%w: no signer", ErrBadConfig))
	}
	if c.HostKey == nil {
		errs = append(errs, fmt.Errorf("%w: no pinned host key", ErrBadConfig))
	}
	if _, err := access.LevelRank(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("%w: encryption: %w", ErrBadConfig, err))
	}
	return errors.Join(errs...)
}

// NewSSHClient runs the Guest's SSH handshake on a relayed connection: the Host must present the
// pinned key, the algorithms come from the encryption level, and the Guest authenticates with its
// certificate. A refusal by the Host comes back as a *RefusedError (errors.Is finds the
// sentinel, e.g. access.ErrExpired). On any error conn is closed.
func NewSSHClient(conn net.Conn, cfg SSHClientConfig) (*ssh.Client, error) {
	c, _, err := newSSHClient(conn, cfg)
	return c, err
}

// newSSHClient is NewSSHClient; the channel is closed once every notice of the Host has been
// printed (after the connection closed).
func newSSHClient(conn net.Conn, cfg SSHClientConfig) (*ssh.Client, <-chan struct{}, error) {
	if err := cfg.Validate(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	algs, err := Algorithms(cfg.Level)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	var banner bannerRecorder
	conf := &ssh.ClientConfig{
		Config:          algs,
		User:            cfg.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer), ssh.KeyboardInteractive(challenge(cfg.Challenge))},
		HostKeyCallback: pinnedHostKey(cfg.HostKey),
		BannerCallback:  banner.record,
		ClientVersion:   "SSH-2.0-Portcullis",
	}
	_ = conn.SetDeadline(time.Now().Add(HandshakeTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, conn.RemoteAddr().String(), conf)
	if err != nil {
		if refused, ok := parseRefusal(banner.text()); ok {
			return nil, nil, fmt.Errorf("endpoint: ssh handshake: %w: %w", refused, err)
		}
		return nil, nil, fmt.Errorf("endpoint: ssh handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	reqs, printed := printNotices(reqs, orDiscard(cfg.Warnings))
	return ssh.NewClient(c, chans, reqs), printed, nil
}

// challenge is the Guest's keyboard-interactive answerer: c, or one that answers no question.
func challenge(c ssh.KeyboardInteractiveChallenge) ssh.KeyboardInteractiveChallenge {
	if c != nil {
		return c
	}
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		if len(questions) > 0 {
			return nil, errors.New("endpoint: the Host asks questions and this Guest cannot answer them")
		}
		return nil, nil
	}
}

// pinnedHostKey accepts exactly the pinned key (ssh.FixedHostKey), naming both keys otherwise.
func pinnedHostKey(pinned ssh.PublicKey) ssh.HostKeyCallback {
	fixed := ssh.FixedHostKey(pinned)
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := fixed(hostname, remote, key); err != nil {
			return fmt.Errorf("%w: pinned %s, offered %s: %w", ErrHostKeyMismatch, fingerprint(pinned), fingerprint(key), err)
		}
		return nil
	}
}

// bannerRecorder keeps the first MaxRefusalBytes of the banners the Host sent.
type bannerRecorder struct {
	mu  sync.Mutex
	buf strings.Builder
}

// record is the ssh.BannerCallback.
func (b *bannerRecorder) record(message string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := MaxRefusalBytes - b.buf.Len(); room > 0 {
		b.buf.WriteString(message[:min(room, len(message))])
	}
	return nil
}

// text returns what was recorded.
func (b *bannerRecorder) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Exec runs cmd on the Host (as the Host's shell -c cmd), stdout and stderr kept apart, and
// returns the remote exit status (128+n for a program killed by signal n). A refusal is a
// *RefusedError (errors.Is(err, ErrChannelNotAllowed) when the obligations do not allow exec).
// Cancelling ctx closes the session; Exec returns once the Host confirms (closing c unblocks a
// Host that stopped answering).
func Exec(ctx context.Context, c *ssh.Client, cmd string, stdout, stderr io.Writer) (exitCode int, err error) {
	sess, err := newSession(c)
	if err != nil {
		return -1, err
	}
	defer func() { _ = sess.Close() }()
	return run(ctx, sess, stdout, stderr, func() error { return sess.Start(cmd) })
}

// Shell runs an interactive shell on the Host. When stdin is a terminal it is put in raw mode
// for the session, the remote terminal gets its size and type ($TERM, else DefaultTerm), and
// SIGWINCH becomes window-change; otherwise the shell reads stdin without a terminal. It
// returns the shell's exit status; refusals and cancellation behave as for Exec. The goroutine
// copying stdin (golang.org/x/crypto/ssh's) ends at its first read after the session is over.
func Shell(ctx context.Context, c *ssh.Client, stdin *os.File, stdout, stderr io.Writer) (exitCode int, err error) {
	sess, err := newSession(c)
	if err != nil {
		return -1, err
	}
	defer func() { _ = sess.Close() }()
	if stdin != nil {
		sess.Stdin = stdin
		if term.IsTerminal(int(stdin.Fd())) {
			restore, err := attachTerminal(sess, int(stdin.Fd()))
			if err != nil {
				return -1, err
			}
			defer restore()
		}
	}
	return run(ctx, sess, stdout, stderr, sess.Shell)
}

// newSession opens a session channel; a refusal by the obligations becomes a *RefusedError.
func newSession(c *ssh.Client) (*ssh.Session, error) {
	sess, err := c.NewSession()
	if err != nil {
		var openErr *ssh.OpenChannelError
		if errors.As(err, &openErr) && openErr.Reason == ssh.Prohibited {
			refused := &RefusedError{Code: string(access.ErrChannelNotAllowed), Message: sanitize(openErr.Message)}
			return nil, fmt.Errorf("endpoint: open session: %w", refused)
		}
		return nil, fmt.Errorf("endpoint: open session: %w", err)
	}
	return sess, nil
}

// attachTerminal requests a remote terminal like the local one, puts the local one in raw mode
// and relays window changes. A refused terminal leaves the local one untouched (the shell, if
// allowed, then runs without one). The returned func undoes it all.
func attachTerminal(sess *ssh.Session, fd int) (func(), error) {
	cols, rows, err := term.GetSize(fd)
	if err != nil {
		cols, rows = defaultCols, defaultRows
	}
	termType := os.Getenv("TERM")
	if termType == "" {
		termType = DefaultTerm
	}
	if err := sess.RequestPty(termType, rows, cols, ssh.TerminalModes{}); err != nil {
		return func() {}, nil
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("endpoint: raw terminal: %w", err)
	}
	stopWatching := watchWindow(sess, fd)
	return func() {
		stopWatching()
		_ = term.Restore(fd, state)
	}, nil
}

// watchWindow sends window-change on every SIGWINCH until the returned func is called.
func watchWindow(sess *ssh.Session, fd int) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-sigs:
				if cols, rows, err := term.GetSize(fd); err == nil {
					_ = sess.WindowChange(rows, cols)
				}
			}
		}
	})
	return func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
	}
}

// run starts the session's program, relays its output and returns its exit status. A refused
// start is read from the refusal line the Host sent on stderr before closing the channel.
func run(ctx context.Context, sess *ssh.Session, stdout, stderr io.Writer, start func() error) (int, error) {
	sess.Stdout = orDiscard(stdout)
	errPipe, err := sess.StderrPipe()
	if err != nil {
		return -1, fmt.Errorf("endpoint: session stderr: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	if err := start(); err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("endpoint: session: %w", context.Cause(ctx))
		}
		text, _ := io.ReadAll(io.LimitReader(errPipe, MaxRefusalBytes))
		if refused, ok := parseRefusal(string(text)); ok {
			return -1, fmt.Errorf("endpoint: %w: %w", refused, err)
		}
		return -1, fmt.Errorf("endpoint: start: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(orDiscard(stderr), errPipe)
		close(copied)
	}()
	waitErr := sess.Wait()
	<-copied
	if ctx.Err() != nil {
		return -1, fmt.Errorf("endpoint: session: %w", context.Cause(ctx))
	}
	return exitCode(waitErr)
}

// exitCode turns the result of ssh.Session.Wait into an exit status.
func exitCode(err error) (int, error) {
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitStatus(), nil
	default:
		return -1, fmt.Errorf("endpoint: session: %w", err)
	}
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// fingerprint names a key for messages; a nil key is "none".
func fingerprint(key ssh.PublicKey) string {
	if key == nil {
		return "none"
	}
	return ssh.FingerprintSHA256(key)
}
