//go:build !linux

package rawconn

// supported: raw system calls are used on Linux only; Wrap returns connections as they are,
// so a Conn here (never made) reads and writes as its TCP connection does.
const supported = false

// SpliceFrom moves up to max bytes from src to c through memory.
func (c *Conn) SpliceFrom(src *Conn, max int64) (int64, error) { return c.copyFrom(src, max) }
