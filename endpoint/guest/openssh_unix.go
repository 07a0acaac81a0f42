//go:build unix

package guest

import (
	"io"
	"net"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f (flock), waiting for it; closing f releases it.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
}

// agentSocket is the ssh-agent's socket: SSH_AUTH_SOCK's value sock ("" when there is none).
func agentSocket(sock string) string { return sock }

// dialAgent connects to the ssh-agent's unix socket.
func dialAgent(sock string) (io.ReadWriteCloser, error) {
	return net.Dial("unix", sock)
}
