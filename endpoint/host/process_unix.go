//go:build unix

package host

import (
	"os"
	"os/exec"
	"syscall"
)

// DefaultShell runs shells and exec commands when SSHConfig.Shell is empty.
const DefaultShell = unixShell

// Unix specifics of the programs a session runs.
const (
	// defaultPath is the PATH of programs when the Host agent itself has none.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// fallbackHome is the working directory of programs whose account has no home directory.
	fallbackHome = "/"
)

// terminalSupport accepts every terminal request: Unix has terminals (pty).
func terminalSupport() error { return nil }

// shellCommand runs command with the shell: shell -c command.
func shellCommand(shell, command string) *exec.Cmd {
	return exec.Command(shell, "-c", command)
}

// osEnv adds nothing to the environment of programs on Unix.
func osEnv() []string { return nil }

// signalGroup signals the process group that p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}

// osSignalNames are the RFC 4254 signals that only Unix has.
func osSignalNames() []signalName {
	return []signalName{{"USR1", syscall.SIGUSR1}, {"USR2", syscall.SIGUSR2}}
}
