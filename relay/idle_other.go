//go:build !linux

package relay

import "errors"

// newReadWaiter fails where parking is not built: idle directions keep their goroutines.
func newReadWaiter() (readWaiter, error) {
	return nil, errors.New("relay: parking idle sessions is built on Linux only")
}
