package main

import (
	"fmt"
	"runtime/debug"
)

// addGCPercentFlag adds --gc-percent, the process's garbage collection target, with def as its
// default and why explaining that default.
func addGCPercentFlag(f interface {
	Int(name string, value int, usage string) *int
}, def int, why string) {
	f.Int("gc-percent", def, "garbage collection target (as GOGC): the heap may grow this many percent over what is live before a collection; "+
		why+" (0 keeps the GOGC environment variable or Go's default)")
}

// checkGCPercent refuses a negative gc-percent.
func checkGCPercent(p int) error {
	if p < 0 {
		return fmt.Errorf("gc-percent %d: want a positive percentage, or 0 for the GOGC environment variable", p)
	}
	return nil
}

// applyGCPercent sets the garbage collection target to p; 0 leaves it to GOGC.
func applyGCPercent(p int) {
	if p > 0 {
		debug.SetGCPercent(p)
	}
}
