package host

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
)

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
	ptmx terminal     // the running program's terminal, nil when none
	proc *os.Process  // the running program (it leads its own process group), nil when none
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
		s.start(req, access.ChannelShell, exec.Command(s.srv.cfg.Shell))
	case "exec":
		s.exec(req)
	case "subsystem":
		s.subsystem(req)
	default:
		s.reply(req, fmt.Errorf("host: %w: request type %q", access.ErrRequestRefused, req.Type))
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
	_, _ = io.WriteString(s.ch.Stderr(), endpoint.RefusalLine(err))
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
		return fmt.Errorf("host: %w: environment variable %q not accepted", access.ErrRequestRefused, msg.Name)
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

// requestPTY records a terminal request when the session allows a terminal and this OS
// offers one.
func (s *session) requestPTY(req *ssh.Request) {
	msg, err := parsePTYRequest(req.Payload)
	if err == nil {
		err = s.grant.allows(channelPTY)
	}
	if err == nil {
		err = terminalSupport()
	}
	if err == nil && s.running {
		err = fmt.Errorf("host: %w: pty-req after the program started", access.ErrRequestRefused)
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
		return fmt.Errorf("host: %w: window-change without a terminal", access.ErrRequestRefused)
	}
	*s.pty = size
	if s.ptmx != nil {
		return s.ptmx.resize(size)
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
		return fmt.Errorf("host: %w: unknown signal %q", access.ErrRequestRefused, msg.Signal)
	}
	return s.signalProgram(sig)
}

// exec starts the shell with the Guest's command.
func (s *session) exec(req *ssh.Request) {
	msg, err := parseExec(req.Payload)
	if err != nil {
		s.refuse(req, err, true)
		return
	}
	s.start(req, access.ChannelExec, shellCommand(s.srv.cfg.Shell, msg.Command))
}

// subsystem starts the sftp server, the only subsystem served.
func (s *session) subsystem(req *ssh.Request) {
	msg, err := parseSubsystem(req.Payload)
	if err == nil && msg.Name != access.ChannelSFTP {
		err = fmt.Errorf("host: %w: subsystem %q is not offered", access.ErrRequestRefused, msg.Name)
	}
	if err == nil {
		err = s.grant.allows(access.ChannelSFTP)
	}
	if err == nil && s.running {
		err = fmt.Errorf("host: %w: this channel already runs a program", access.ErrRequestRefused)
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

// start runs cmd (the shell, or the shell with a command) when kind is allowed.
func (s *session) start(req *ssh.Request, kind string, cmd *exec.Cmd) {
	err := s.grant.allows(kind)
	if err == nil && s.running {
		err = fmt.Errorf("host: %w: this channel already runs a program", access.ErrRequestRefused)
	}
	if err == nil {
		s.mu.Lock()
		size := s.pty
		s.mu.Unlock()
		err = s.launch(cmd, size)
	}
	if err != nil {
		s.refuse(req, err, true)
		return
	}
	_ = req.Reply(true, nil)
	go s.finish()
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
