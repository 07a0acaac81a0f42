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
	if descriptors(lim.Cur) >= n {
		return descriptors(lim.Cur), nil
	}
	want := lim
	want.Cur, want.Max = raised(lim.Max, n)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return n, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return descriptors(lim.Cur), nil
}

// limit is the type of syscall.Rlimit's fields: uint64 on Linux and macOS, int64 on the BSDs.
type limit interface{ ~int64 | ~uint64 }

// descriptors is a limit as a count of descriptors; RLIM_INFINITY (or anything past
// MaxInt32) counts as MaxInt32.
func descriptors[T limit](v T) int {
	if v < 0 || uint64(v) > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// raised is the soft and hard limit that allow n descriptors, keeping a higher hard limit.
func raised[T limit](hard T, n int) (T, T) {
	want := T(n)
	return want, max(hard, want)
}
