package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// sshdPath is where Debian's openssh-server puts the daemon; sshd insists on an absolute path.
const sshdPath = "/usr/sbin/sshd"

// sshCipher is the cipher both OpenSSH hops use: AES-256-GCM, the algorithm of Portcullis's
// default "very high" encryption level, so that both sides do the same cryptographic work.
const sshCipher = "aes256-gcm@openssh.com"

// openSSH is a jump sshd and a target sshd on loopback, with a client configuration that
// reaches the target through the jump as the current user with a generated key.
type openSSH struct {
	dir          string
	jump, target *proc
	jumpPort     int
	targetPort   int
	config       string // ssh_config for every client invocation (-F)
}

// startOpenSSH generates host and user keys under dir and starts both daemons.
func startOpenSSH(ctx context.Context, dir string) (*openSSH, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("openssh dir: %w", err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshd privilege separation dir: %w", err)
	}
	o := &openSSH{dir: dir}
	for _, k := range []string{"host_key", "user_key"} {
		if err := runTool(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)); err != nil {
			return nil, err
		}
	}
	if err := copyFile(filepath.Join(dir, "user_key.pub"), filepath.Join(dir, "authorized_keys")); err != nil {
		return nil, err
	}
	var err error
	if o.jumpPort, err = freePort(); err != nil {
		return nil, err
	}
	if o.targetPort, err = freePort(); err != nil {
		return nil, err
	}
	if err := o.writeClientConfig(); err != nil {
		return nil, err
	}
	if o.jump, err = o.startDaemon("jump", o.jumpPort); err != nil {
		return nil, err
	}
	if o.target, err = o.startDaemon("target", o.targetPort); err != nil {
		o.stop()
		return nil, err
	}
	for _, p := range []int{o.jumpPort, o.targetPort} {
		if err := waitListening(ctx, fmt.Sprintf("127.0.0.1:%d", p)); err != nil {
			o.stop()
			return nil, fmt.Errorf("sshd on port %d: %w", p, err)
		}
	}
	return o, nil
}

// startDaemon runs one sshd in the foreground (-D) on port, logging to a file in dir.
func (o *openSSH) startDaemon(name string, port int) (*proc, error) {
	opts := []string{
		fmt.Sprintf("Port=%d", port), "ListenAddress=127.0.0.1",
		"HostKey=" + filepath.Join(o.dir, "host_key"),
		"AuthorizedKeysFile=" + filepath.Join(o.dir, "authorized_keys"),
		"UsePAM=no", "PermitRootLogin=prohibit-password", "PasswordAuthentication=no",
		"KbdInteractiveAuthentication=no", "StrictModes=no", "AllowTcpForwarding=yes",
		"PidFile=none", "Ciphers=" + sshCipher, "LogLevel=ERROR", "MaxStartups=100",
	}
	args := []string{"-D", "-e", "-f", "/dev/null"}
	for _, opt := range opts {
		args = append(args, "-o", opt)
	}
	return startProc(exec.Command(sshdPath, args...), filepath.Join(o.dir, name+".log"))
}

// writeClientConfig writes the ssh_config and known_hosts every client invocation uses, so that
// `ssh -J` applies them to the jump hop too.
func (o *openSSH) writeClientConfig() error {
	pub, err := os.ReadFile(filepath.Join(o.dir, "host_key.pub"))
	if err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	key := strings.TrimSpace(string(pub))
	known := fmt.Sprintf("[127.0.0.1]:%d %s\n[127.0.0.1]:%d %s\n", o.jumpPort, key, o.targetPort, key)
	knownPath := filepath.Join(o.dir, "known_hosts")
	if err := os.WriteFile(knownPath, []byte(known), 0o600); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	cfg := strings.Join([]string{
		"Host *",
		"  User root",
		"  IdentityFile " + filepath.Join(o.dir, "user_key"),
		"  IdentitiesOnly yes",
		"  UserKnownHostsFile " + knownPath,
		"  GlobalKnownHostsFile /dev/null",
		"  StrictHostKeyChecking yes",
		"  BatchMode yes",
		"  Ciphers " + sshCipher,
		"  LogLevel ERROR",
		"  ControlMaster no",
		"",
	}, "\n")
	o.config = filepath.Join(o.dir, "ssh_config")
	if err := os.WriteFile(o.config, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("ssh_config: %w", err)
	}
	return nil
}

// jumpSpec and targetSpec are the hosts as `ssh -J JUMP TARGET` names them.
func (o *openSSH) jumpSpec() string { return fmt.Sprintf("root@127.0.0.1:%d", o.jumpPort) }
func (o *openSSH) targetArgs() []string {
	return []string{"-p", fmt.Sprint(o.targetPort), "root@127.0.0.1"}
}

// command returns `ssh -F CONFIG -J JUMP [extra...] TARGET [remote...]`.
func (o *openSSH) command(ctx context.Context, extra []string, remote ...string) *exec.Cmd {
	args := append([]string{"-F", o.config, "-J", o.jumpSpec()}, extra...)
	args = append(args, o.targetArgs()...)
	return exec.CommandContext(ctx, "ssh", append(args, remote...)...)
}

// forward starts `ssh -J … -N -L LOCAL:TARGETADDR` and waits until the local port listens.
func (o *openSSH) forward(ctx context.Context, local int, target string) (*proc, error) {
	cmd := o.command(context.WithoutCancel(ctx), []string{"-N", "-o", "ExitOnForwardFailure=yes", "-L", fmt.Sprintf("127.0.0.1:%d:%s", local, target)})
	p, err := startProc(cmd, filepath.Join(o.dir, "forward.log"))
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, fmt.Sprintf("127.0.0.1:%d", local)); err != nil {
		p.stop()
		return nil, fmt.Errorf("ssh -L: %w", err)
	}
	return p, nil
}

func (o *openSSH) stop() {
	o.jump.stop()
	o.target.stop()
}

// proc is a background process the suite started; stop ends it.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// procStopGrace is how long a process may take to exit after SIGTERM before it is killed.
const procStopGrace = 3 * time.Second

// startProc starts cmd with its output in logPath; the process dies with the suite.
func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log %s: %w", logPath, err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithSuite(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process (SIGTERM, then SIGKILL after procStopGrace); nil is a no-op.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(procStopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func runTool(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, out)
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		return fmt.Errorf("copy to %s: %w", to, err)
	}
	return nil
}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
