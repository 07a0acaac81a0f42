//go:build !unix

package pgtest

import "os/exec"

// leaveProcessGroup does nothing: there are no Unix process groups to leave here.
func leaveProcessGroup(*exec.Cmd) {}
