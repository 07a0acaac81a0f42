//go:build !unix

package main

// raiseFileLimit returns n: without RLIMIT_NOFILE (Windows) there is no descriptor limit to
// raise, only memory.
func raiseFileLimit(n int) (int, error) { return n, nil }
