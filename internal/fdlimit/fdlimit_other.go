//go:build !unix

package fdlimit

// Raise returns n: without RLIMIT_NOFILE (Windows) there is no descriptor limit to
// raise, only memory.
func Raise(n int) (int, error) { return n, nil }
