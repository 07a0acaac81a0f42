//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// leaveProcessGroup starts cmd in a process group of its own, so that a signal to the test's
// group (^C) does not reach it.
func leaveProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
