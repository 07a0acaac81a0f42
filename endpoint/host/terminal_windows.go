package host

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/charmbracelet/x/conpty"
	"github.com/creack/pty"
	"golang.org/x/sys/windows"
)

// conTerminal is a Windows pseudo console (ConPTY, Windows 10 1809 and later).
type conTerminal struct{ *conpty.ConPty }

func (t conTerminal) resize(size pty.Winsize) error {
	return t.ConPty.Resize(int(size.Cols), int(size.Rows))
}

// startOnPTY starts cmd on a new pseudo console of the given size, relayed over the channel.
// A pseudo console's output ends only when it is closed, so it is closed once the program
// exits (after OutputDrainTimeout at most for its last output).
func (s *session) startOnPTY(cmd *exec.Cmd, size pty.Winsize) (func(), error) {
	cols, rows := int(size.Cols), int(size.Rows)
	if cols == 0 || rows == 0 {
		cols, rows = conpty.DefaultWidth, conpty.DefaultHeight
	}
	cpty, err := conpty.New(cols, rows, 0)
	if err != nil {
		return nil, fmt.Errorf("pseudo console: %w", err)
	}
	pid, handle, err := cpty.Spawn(cmd.Path, cmd.Args, &syscall.ProcAttr{Dir: cmd.Dir, Env: cmd.Env, Sys: cmd.SysProcAttr})
	if err != nil {
		_ = cpty.Close()
		return nil, err
	}
	proc, err := os.FindProcess(pid)
	_ = windows.CloseHandle(windows.Handle(handle))
	if err != nil {
		_ = cpty.Close()
		return nil, err
	}
	cmd.Process = proc
	s.mu.Lock()
	s.ptmx = conTerminal{cpty}
	s.mu.Unlock()
	go func() { _, _ = io.Copy(cpty, s.ch) }()
	out := make(chan struct{})
	go func() {
		_, _ = io.Copy(s.ch, cpty) // ends once the pseudo console is closed
		close(out)
	}()
	return func() {
		state, _ := proc.Wait()
		cmd.ProcessState = state
		s.mu.Lock()
		_ = cpty.Close()
		s.ptmx = nil
		s.mu.Unlock()
		select {
		case <-out:
		case <-time.After(OutputDrainTimeout):
		}
	}, nil
}
