//go:build race

package rawconn

import (
	"runtime"
	"unsafe"
)

// ioSync is what every read and write synchronises on for the race detector, as in package
// syscall: bytes written to a connection happen before the reads that get them, and a read
// writes its buffer. It exists only in race-detector builds.
var ioSync int64

// readDone tells the race detector that a read filled p[:n].
func readDone(p []byte, n int) {
	if n > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&p[0]), n)
	}
	runtime.RaceAcquire(unsafe.Pointer(&ioSync))
}

// writeStarting tells the race detector that a write of p starts.
func writeStarting(p []byte) {
	runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync))
	if len(p) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&p[0]), len(p))
	}
}
