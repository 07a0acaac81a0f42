package localstack

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd's process when the process that started it dies, even
// by SIGKILL: a crashed test or demo leaves no daemon behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
