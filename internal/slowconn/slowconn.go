// Package slowconn plays the slow client of a slowloris attack, for the relay's flood tests and
// the bench: a connection that sends one byte at a time, as slowly as it dares.
package slowconn

import (
	"context"
	"errors"
	"net"
	"time"
)

// Dribble writes the bytes of prefix, then zeros, one every interval, until the peer closes c
// (or answers: a peer must not answer before the prefix is whole) or ctx ends; then it closes
// c. It reports whether the peer ended it (false when ctx did).
func Dribble(ctx context.Context, c net.Conn, prefix []byte, interval time.Duration) bool {
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	defer c.Close()
	buf := make([]byte, 64)
	for i := 0; ; i++ {
		b := byte(0)
		if i < len(prefix) {
			b = prefix[i]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(interval))
		if _, err := c.Read(buf); !IsTimeout(err) {
			break
		}
	}
	return ctx.Err() == nil
}

// IsTimeout reports whether err is a network timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
