package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
)

// Exec runs cmd on the Host (through the Host's shell, as `shell -c cmd`), stdin forwarded
// (its end is the program's end of input, as with `ssh host cmd`; nil is an empty input),
// stdout and stderr kept apart, and returns the remote exit status (128+n for a program killed by signal n). A
// refusal is a *endpoint.RefusedError (errors.Is(err, access.ErrChannelNotAllowed) when the
// obligations do not allow exec). Cancelling ctx closes the session; Exec returns once the Host
// confirms (closing c unblocks a Host that stopped answering).
func Exec(ctx context.Context, c *ssh.Client, cmd string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	sess, err := newSession(c)
	if err != nil {
		return -1, err
	}
	defer func() { _ = sess.Close() }()
	sess.Stdin = stdin
	return run(ctx, sess, stdout, stderr, func() error { return sess.Start(cmd) })
}

// Shell runs an interactive shell on the Host. When stdin is a terminal it is put in raw mode
// for the session, the remote terminal gets its size and type ($TERM, else DefaultTerm), and
// changes of the local terminal's size become window-change requests (on SIGWINCH; Windows
// has no such signal, so there the console's size is polled); otherwise the shell reads stdin
// without a terminal. It returns the shell's exit status; refusals and cancellation behave as
// for Exec. The goroutine copying stdin (golang.org/x/crypto/ssh's) ends at its first read
// after the session is over.
func Shell(ctx context.Context, c *ssh.Client, stdin *os.File, stdout, stderr io.Writer) (exitCode int, err error) {
	sess, err := newSession(c)
	if err != nil {
		return -1, err
	}
	defer func() { _ = sess.Close() }()
	if stdin != nil {
		sess.Stdin = stdin
		if term.IsTerminal(int(stdin.Fd())) {
			restore, err := attachTerminal(sess, int(stdin.Fd()), stdout)
			if err != nil {
				return -1, err
			}
			defer restore()
		}
	}
	return run(ctx, sess, stdout, stderr, sess.Shell)
}

// newSession opens a session channel; a refusal by the obligations becomes a
// *endpoint.RefusedError.
func newSession(c *ssh.Client) (*ssh.Session, error) {
	sess, err := c.NewSession()
	if err != nil {
		return nil, fmt.Errorf("guest: open session: %w", prohibited(err))
	}
	return sess, nil
}

// prohibited turns the Host's refusal to open a channel (ssh.Prohibited: the obligations do
// not allow it) into a *endpoint.RefusedError; other errors pass unchanged.
func prohibited(err error) error {
	var openErr *ssh.OpenChannelError
	if errors.As(err, &openErr) && openErr.Reason == ssh.Prohibited {
		return &endpoint.RefusedError{Code: string(access.ErrChannelNotAllowed), Message: endpoint.Sanitize(openErr.Message)}
	}
	return err
}

// run starts the session's program, relays its output and returns its exit status. A refused
// start is read from the refusal line the Host sent on stderr before closing the channel.
func run(ctx context.Context, sess *ssh.Session, stdout, stderr io.Writer, start func() error) (int, error) {
	sess.Stdout = orDiscard(stdout)
	errPipe, err := sess.StderrPipe()
	if err != nil {
		return -1, fmt.Errorf("guest: session stderr: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	if err := start(); err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("guest: session: %w", context.Cause(ctx))
		}
		text, _ := io.ReadAll(io.LimitReader(errPipe, endpoint.MaxRefusalBytes))
		if refused, ok := endpoint.ParseRefusal(string(text)); ok {
			return -1, fmt.Errorf("guest: %w: %w", refused, err)
		}
		return -1, fmt.Errorf("guest: start: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(orDiscard(stderr), errPipe)
		close(copied)
	}()
	waitErr := sess.Wait()
	<-copied
	if ctx.Err() != nil {
		return -1, fmt.Errorf("guest: session: %w", context.Cause(ctx))
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
		return -1, fmt.Errorf("guest: session: %w", err)
	}
}

// orDiscard returns w, or io.Discard when w is nil.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
