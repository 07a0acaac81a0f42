//go:build unix

package fdlimit

import (
	"fmt"
	"math"
	"syscall"
)

// Raise lifts RLIMIT_NOFILE for this process and the processes it starts (children
// inherit it) to n, or as far as the hard limit allows when this process may not raise that
// (root without CAP_SYS_RESOURCE, as in many containers). It returns the soft limit now in force.
func Raise(n int) (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	want := uint64(n)
	if lim.Cur >= want {
		return int(min(lim.Cur, math.MaxInt32)), nil // RLIM_INFINITY is no count
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: max(lim.Max, want)}) == nil {
		return n, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return int(min(lim.Cur, math.MaxInt32)), nil
}
