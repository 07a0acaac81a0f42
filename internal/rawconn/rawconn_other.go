//go:build !linux

package rawconn

import "errors"

// supported: raw system calls are used on Linux only; Wrap returns connections as they are.
const supported = false

// errUnsupported: a Conn exists only where raw system calls are supported.
var errUnsupported = errors.New("rawconn: raw system calls are not supported on this system")

// Read is never called: Wrap makes no Conn here.
func (c *Conn) Read([]byte) (int, error) { return 0, errUnsupported }

// Write is never called: Wrap makes no Conn here.
func (c *Conn) Write([]byte) (int, error) { return 0, errUnsupported }

// SpliceFrom is never called: Wrap makes no Conn here.
func (c *Conn) SpliceFrom(*Conn, int64) (int64, error) { return 0, errUnsupported }
