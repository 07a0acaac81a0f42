//go:build unix

package host

import (
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/creack/pty"
)

// unixTerminal is a pty's controlling side.
type unixTerminal struct{ *os.File }

func (t unixTerminal) resize(size pty.Winsize) error { return pty.Setsize(t.File, &size) }

// startOnPTY starts cmd as a session leader on a new terminal relayed over the channel.
func (s *session) startOnPTY(cmd *exec.Cmd, size pty.Winsize) (func(), error) {
	ptmx, err := pty.StartWithSize(cmd, &size)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ptmx = unixTerminal{ptmx}
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
