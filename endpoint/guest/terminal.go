package guest

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// Terminal defaults of the Guest's interactive shell.
const (
	// DefaultTerm is the terminal type requested when $TERM is empty.
	DefaultTerm = "xterm-256color"
	// defaultCols and defaultRows size the remote terminal when the local size is unknown.
	defaultCols, defaultRows = 80, 24
)

// attachTerminal requests a remote terminal like the local one (input fd, output out), puts
// the local one in raw mode and relays its size changes. A refused terminal leaves the local
// one untouched (the shell, if allowed, then runs without one). The returned func undoes it
// all.
func attachTerminal(sess *ssh.Session, fd int, out io.Writer) (func(), error) {
	size := func() (cols, rows int, err error) { return terminalSize(fd, out) }
	cols, rows, err := size()
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
		return nil, fmt.Errorf("guest: raw terminal: %w", err)
	}
	restoreOutput := prepareOutput(out)
	stopWatching := watchWindow(sess, size)
	return func() {
		stopWatching()
		restoreOutput()
		_ = term.Restore(fd, state)
	}, nil
}
