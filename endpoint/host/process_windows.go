package host

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/portcullis/portcullis/access"
)

// DefaultShell runs shells and exec commands when SSHConfig.Shell is empty.
const DefaultShell = windowsShell

// Windows specifics of the programs a session runs: terminals are pseudo consoles (ConPTY,
// terminal_windows.go), there are no process groups and no signals but KILL, which ends the
// program itself (not its children).
const (
	// defaultPath is the PATH of programs when the Host agent itself has none.
	defaultPath = `C:\Windows\System32;C:\Windows`
	// fallbackHome is the working directory of programs whose account has no home directory.
	fallbackHome = `C:\`
)

// terminalSupport accepts every terminal request: Windows 10 1809 and later have pseudo
// consoles; on an older Windows, starting the program on one fails and the request is refused
// then.
func terminalSupport() error { return nil }

// osEnvNames are the variables of the agent's environment that Windows programs need to run.
var osEnvNames = [...]string{"SystemRoot", "windir", "ComSpec", "PATHEXT", "TEMP", "TMP", "USERPROFILE"}

// shellCommand runs command with the shell (cmd.exe /C command), passing the command line
// as the Guest wrote it: cmd.exe does not parse quoted arguments the way Go quotes them.
func shellCommand(shell, command string) *exec.Cmd {
	cmd := exec.Command(shell)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: syscall.EscapeArg(shell) + " /C " + command}
	return cmd
}

// osEnv returns the variables of the agent's environment that Windows programs need.
func osEnv() []string {
	var env []string
	for _, name := range osEnvNames {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// signalGroup ends p for SIGKILL; Windows has no other signals to deliver.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if sig != syscall.SIGKILL {
		return fmt.Errorf("host: %w: signal %v: a Windows Host can only kill a program", access.ErrRequestRefused, sig)
	}
	return p.Kill()
}

// osSignalNames adds no signal on Windows.
func osSignalNames() []signalName { return nil }
