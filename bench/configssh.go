package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// sshSuffix is the Host-name suffix of the ssh_config block `portcullis config ssh` prints.
const sshSuffix = ".portcullis"

// portcullisSSH is alice's OpenSSH set-up through `portcullis proxy`: the ssh_config block that
// `portcullis config ssh` printed and an ssh-agent for the session keys.
type portcullisSSH struct {
	config string
	env    []string
	agent  *proc
}

// startPortcullisSSH writes alice's ssh_config under dir and starts her ssh-agent.
func startPortcullisSSH(ctx context.Context, st *stack, dir string) (*portcullisSSH, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	out, err := st.c.Guest(ctx, st.user, "config", "ssh").Output()
	if err != nil {
		return nil, fmt.Errorf("portcullis config ssh: %w", err)
	}
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, out, 0o600); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "agent.sock")
	agent, err := startProc(exec.Command("ssh-agent", "-D", "-a", sock), filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			agent.stop()
			return nil, fmt.Errorf("ssh-agent did not come up at %s", sock)
		}
	}
	env := append(os.Environ(), "SSH_AUTH_SOCK="+sock, "HOME="+dir)
	return &portcullisSSH{config: cfg, env: env, agent: agent}, nil
}

// command returns `ssh -F CONFIG HOST.portcullis remote...` through `portcullis proxy`.
func (p *portcullisSSH) command(ctx context.Context, remote ...string) *exec.Cmd {
	args := append([]string{"-F", p.config, "-o", "BatchMode=yes", hostName + sshSuffix}, remote...)
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Env = p.env
	return cmd
}

func (p *portcullisSSH) stop() { p.agent.stop() }
