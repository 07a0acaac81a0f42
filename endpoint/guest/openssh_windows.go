package guest

import (
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/windows"
)

// openSSHAgentPipe is the named pipe of Windows' OpenSSH agent service, used when
// SSH_AUTH_SOCK is not set.
const openSSHAgentPipe = `\\.\pipe\openssh-ssh-agent`

// lockFile takes an exclusive lock on f (LockFileEx), waiting for it; closing f releases it.
func lockFile(f *os.File) error {
	var whole windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &whole)
}

// agentSocket is the ssh-agent's socket or pipe: SSH_AUTH_SOCK's value sock, else OpenSSH's
// agent pipe.
func agentSocket(sock string) string {
	if sock == "" {
		return openSSHAgentPipe
	}
	return sock
}

// dialAgent connects to the ssh-agent: a named pipe (\\.\pipe\...) is opened as a file, since
// the agent protocol is one request, then one answer; anything else is a unix socket.
func dialAgent(sock string) (io.ReadWriteCloser, error) {
	if strings.HasPrefix(sock, `\\.\pipe\`) {
		return os.OpenFile(sock, os.O_RDWR, 0)
	}
	return net.Dial("unix", sock)
}
