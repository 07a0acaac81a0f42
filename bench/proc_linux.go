package main

import (
	"os/exec"
	"syscall"
)

// dieWithSuite has the kernel kill cmd's process when the suite dies, even by SIGKILL.
func dieWithSuite(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// flushDirtyPages has the kernel write every dirty page of the page cache out (sync(2)).
func flushDirtyPages() { syscall.Sync() }
