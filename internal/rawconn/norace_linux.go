//go:build !race

package rawconn

// readDone tells the race detector that a read filled p[:n]: nothing without it.
func readDone([]byte, int) {}

// writeStarting tells the race detector that a write of p starts: nothing without it.
func writeStarting([]byte) {}
