package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// Dial connects to the Connection Server at addr over TLS, presents rawTicket for the role the
// ticket names, and waits until the CS pairs it with the other half of the session. The
// returned connection is the TLS connection to the CS: from then on every byte read or written
// is the session stream, and CloseWrite half-closes it. ctx bounds the dial and the wait for
// the other half (the CS also refuses after its pairing timeout).
//
// A refusal returns an error that is a *RefusedError and wraps the sentinel of its code, so
// errors.Is(err, access.ErrExpired) or errors.Is(err, access.ErrPairTimeout) work.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, rawTicket string) (net.Conn, error) {
	_, claims, err := ticket.Parse(rawTicket)
	if err != nil {
		return nil, fmt.Errorf("relay: read own ticket: %w", err)
	}
	d := tls.Dialer{Config: tlsConf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("relay: dial %s: %w", addr, err)
	}
	if err := Handshake(ctx, conn, claims.Role, rawTicket); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("%w (connection server %s)", err, addr)
	}
	return conn, nil
}

// Handshake runs the client side of the relay handshake on an established connection to a
// CS: it sends the hello for role and rawTicket, then reads the answers until the CS pairs or
// refuses the half. On success the connection carries the session stream and has no deadline.
// On failure the caller closes conn. A refusal is a *RefusedError.
func Handshake(ctx context.Context, conn net.Conn, role access.Role, rawTicket string) (err error) {
	payload, err := appendHello(nil, role, rawTicket)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return fmt.Errorf("relay: set handshake deadline: %w", err)
		}
	}
	// A deadline in the past interrupts the blocked read or write when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			err = fmt.Errorf("relay: handshake: %w", ctx.Err())
		}
		if err == nil {
			err = conn.SetDeadline(time.Time{})
		}
	}()
	if err := writeFrame(conn, frameHello, payload); err != nil {
		return withCtx(ctx, err)
	}
	return awaitPaired(ctx, conn)
}

// awaitPaired reads the CS's answers: at most one frameAccepted, then framePaired or
// frameRefused.
func awaitPaired(ctx context.Context, conn net.Conn) error {
	accepted := false
	for {
		t, p, err := readFrame(conn, maxResponseLen, ErrProtocol)
		if err != nil {
			return withCtx(ctx, err)
		}
		switch {
		case t == frameAccepted && !accepted && len(p) == 0:
			accepted = true
		case t == framePaired && len(p) == 0:
			return nil
		case t == frameRefused && validCode(string(p)):
			return &RefusedError{Code: string(p)}
		default:
			return fmt.Errorf("%w: unexpected frame type 0x%02x with %d-byte payload", ErrProtocol, byte(t), len(p))
		}
	}
}

// withCtx prefers ctx's error over the I/O error it caused.
func withCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("relay: handshake: %w (%v)", ctx.Err(), err)
	}
	return fmt.Errorf("relay: handshake: %w", err)
}
