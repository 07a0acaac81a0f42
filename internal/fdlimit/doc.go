// Package fdlimit raises the open-file limit (RLIMIT_NOFILE) of the running process, for the
// bench and the tests that hold thousands of sockets on each side. It holds no state.
package fdlimit
