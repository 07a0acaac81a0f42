package host

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"syscall"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
)

// Programs a session runs: the shell (or the sftp server program) as the configured account,
// in a fresh minimal environment, leading its own process group on Unix so that the whole
// group is signalled and killed with the session. What differs by OS (the default shell, how
// a command is passed to it, process groups, signals, terminals, switching accounts) is in
// process_unix.go, process_windows.go and the account files.

// programEnv returns the base environment and working directory of the programs the Host runs:
// a fresh minimal environment, never the agent's own (which may hold secrets).
func programEnv(sessionID, shell string, account *Account) ([]string, string) {
	home, name := fallbackHome, ""
	if account != nil {
		home, name = account.Home, account.Name
	} else if u, err := user.Current(); err == nil {
		home, name = u.HomeDir, u.Username
	}
	if st, err := os.Stat(home); err != nil || !st.IsDir() {
		home = fallbackHome
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "SHELL=" + shell, "PATH=" + path,
		"PORTCULLIS_SESSION_ID=" + sessionID,
	}
	return append(env, osEnv()...), home
}

// environment is the program's environment: the base, the terminal type, the Guest's variables.
func (s *session) environment() []string {
	env := slices.Clone(s.srv.env)
	if s.term != "" {
		env = append(env, "TERM="+s.term)
	}
	return append(env, s.env...)
}

// launch starts cmd as the session's program, as the configured account: on a new terminal of
// the given size, or on pipes when size is nil.
func (s *session) launch(cmd *exec.Cmd, size *pty.Winsize) error {
	cmd.Env = s.environment()
	cmd.Dir = s.srv.dir
	s.srv.cfg.Account.apply(cmd, size == nil)
	var wait func()
	var err error
	if size != nil {
		wait, err = s.startOnPTY(cmd, *size)
	} else {
		wait, err = s.startOnPipes(cmd)
	}
	if err != nil {
		return fmt.Errorf("host: %w: start %s: %w", access.ErrRequestRefused, cmd.Path, err)
	}
	s.mu.Lock()
	s.proc = cmd.Process
	s.mu.Unlock()
	s.log.Info("program started", "args", cmd.Args, "pty", size != nil, "pid", cmd.Process.Pid)
	s.running, s.done = true, make(chan struct{})
	s.kill = func() { _ = s.signalProgram(syscall.SIGKILL) }
	s.wait = func() (string, []byte) {
		wait()
		s.mu.Lock()
		s.proc = nil
		s.mu.Unlock()
		return exitRequest(cmd.ProcessState)
	}
	return nil
}

// signalProgram signals the running program's process group.
func (s *session) signalProgram(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return fmt.Errorf("host: %w: no program is running", access.ErrRequestRefused)
	}
	return signalGroup(s.proc, sig)
}

// startOnPipes starts cmd with stdin, stdout and stderr on the channel.
func (s *session) startOnPipes(cmd *exec.Cmd) (func(), error) {
	cmd.Stdout = endpoint.ChannelWriter{Writer: s.ch}
	cmd.Stderr = endpoint.ChannelWriter{Writer: s.ch.Stderr()}
	cmd.WaitDelay = OutputDrainTimeout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_, _ = endpoint.CopyFromChannel(stdin, s.ch)
		_ = stdin.Close()
	}()
	return func() { _ = cmd.Wait() }, nil
}

// terminal is a running program's pseudo-terminal, relayed over the channel: a pty on Unix
// (terminal_unix.go), a ConPTY on Windows (terminal_windows.go).
type terminal interface {
	io.ReadWriteCloser
	// resize sets the terminal's size (a window-change).
	resize(size pty.Winsize) error
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

// signalName is an RFC 4254 signal name and its signal.
type signalName struct {
	name string
	sig  syscall.Signal
}

// signalNames maps RFC 4254 signal names to signals: those every OS names, and the OS's own.
func signalNames() []signalName {
	return append([]signalName{
		{"ABRT", syscall.SIGABRT}, {"ALRM", syscall.SIGALRM}, {"FPE", syscall.SIGFPE},
		{"HUP", syscall.SIGHUP}, {"ILL", syscall.SIGILL}, {"INT", syscall.SIGINT},
		{"KILL", syscall.SIGKILL}, {"PIPE", syscall.SIGPIPE}, {"QUIT", syscall.SIGQUIT},
		{"SEGV", syscall.SIGSEGV}, {"TERM", syscall.SIGTERM},
	}, osSignalNames()...)
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
