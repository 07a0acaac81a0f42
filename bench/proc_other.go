//go:build !linux

package main

import "os/exec"

// dieWithSuite does nothing: only Linux kills a child when its parent dies. Elsewhere the
// suite's processes end with stop, which every section defers; a suite killed outright leaves
// them running.
func dieWithSuite(*exec.Cmd) {}

// flushDirtyPages does nothing: the sections measured elsewhere write little to disk.
func flushDirtyPages() {}
