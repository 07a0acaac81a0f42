//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit lifts RLIMIT_NOFILE for this process and the processes it starts (children
// inherit it) to n, or as far as the hard limit allows when this process may not raise that
// (root without CAP_SYS_RESOURCE, as in many containers). It returns the soft limit now in force.
func raiseFileLimit(n int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	want := uint64(n)
	if lim.Cur >= want {
		return int(lim.Cur), nil
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}) == nil {
		return n, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return int(lim.Cur), nil
}
