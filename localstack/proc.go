package localstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the stack.
type Proc struct {
	Name string
	// Addr is where a Connection Server listens.
	Addr string
	// HTTPAddr is a Connection Server's HTTP fallback base URL; MetricsAddr serves its /metrics.
	HTTPAddr, MetricsAddr string
	// StateDir is a Connection Server's state directory (its keys, the used tickets).
	StateDir string
	Cmd      *exec.Cmd
	done     chan struct{}
	err      error
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Kill ends a process at once (SIGKILL) and waits until it is gone.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks a process to end (SIGTERM) and kills it after stopTimeout, or at once where
// SIGTERM cannot be sent (Windows).
func (p *Proc) stop() {
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.Kill()
		return
	}
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.Kill()
	}
}

// launch is the command line of a process to spawn, and the sockets it inherits.
type launch struct {
	name string
	// bin is the program; default the portcullis binary (Options.Bin).
	bin  string
	args []string
	// env is added to the stack's own environment.
	env []string
	// files are handed to the child as file descriptors 3, 4, ...; spawn closes the stack's
	// copies once the child has started.
	files []*os.File
}

// listenOn adds flag with the listen address that makes the child serve on sock: the socket
// itself, handed down, where the platform can (see handoff).
func (l *launch) listenOn(flag string, sock *socket) error {
	addr, f, err := sock.handoff(len(l.files))
	if err != nil {
		return err
	}
	if f != nil {
		l.files = append(l.files, f)
	}
	l.args = append(l.args, flag, addr)
	return nil
}

// spawn starts the process l describes, its output in its log file (and in Options.Logs), and
// adds it to the processes Stop ends.
func (s *Stack) spawn(_ context.Context, l *launch) (*Proc, error) {
	defer func() {
		for _, f := range l.files {
			f.Close()
		}
	}()
	logPath := s.logPath(l.name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("localstack: %w", err)
	}
	cmd := exec.Command(orDefault(l.bin, s.opts.Bin), l.args...)
	cmd.Env = append(os.Environ(), l.env...)
	if s.opts.LogFormat != "" {
		cmd.Env = append(cmd.Env, "PORTCULLIS_LOG_FORMAT="+s.opts.LogFormat)
	}
	cmd.ExtraFiles = l.files
	var out io.Writer = logFile
	if s.opts.Logs != nil {
		out = io.MultiWriter(logFile, prefixWriter(s.opts.Logs, l.name))
	}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localstack: start %s: %w", l.name, err)
	}
	p := &Proc{Name: l.name, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// prefixWriter prefixes every line written to w with the process name.
func prefixWriter(w io.Writer, name string) io.Writer {
	return &prefixed{w: w, prefix: fmt.Sprintf("%-8s| ", name)}
}

// prefixed is a writer that starts every line with prefix; it is safe for concurrent use.
type prefixed struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	// midway is set when the last write ended inside a line.
	midway bool
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if !p.midway {
			sb.WriteString(p.prefix)
		}
		sb.WriteString(line)
		p.midway = !strings.HasSuffix(line, "\n")
	}
	if _, err := io.WriteString(p.w, sb.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
