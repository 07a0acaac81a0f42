package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/rawconn"
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
func Handshake(ctx context.Context, conn net.Conn, role access.Role, rawTicket string) error {
	_, err := handshake(ctx, conn, role, rawTicket, false)
	return err
}

// HandshakePlain is Handshake for an endpoint at the fast level (access.LevelFast): when conn
// is TLS over TCP it asks the CS to carry the session stream without TLS, and the CS does so
// when the other half asked too and both tickets allow it (a ticket that does not is refused
// with access.ErrPlainLegsRefused). It returns the connection that carries the stream: the TCP
// connection under conn's TLS, or conn itself when the CS kept TLS. On failure the caller
// closes conn.
func HandshakePlain(ctx context.Context, conn net.Conn, role access.Role, rawTicket string) (net.Conn, error) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		return conn, Handshake(ctx, conn, role, rawTicket) // the HTTP fallback keeps its TLS
	}
	plain, err := handshake(ctx, conn, role, rawTicket, true)
	if err != nil || !plain {
		return conn, err
	}
	raw := PlainConn(tc)
	if _, err := raw.Write([]byte{plainAck}); err != nil {
		return nil, withCtx(ctx, fmt.Errorf("acknowledge plain legs: %w", err))
	}
	return rawconn.Wrap(raw), nil
}

// PlainConn is the TCP connection under tc that a plain leg carries the session stream on: the
// connection under a GatherConn, which gathers TLS records and has nothing to gather without
// them.
func PlainConn(tc *tls.Conn) net.Conn {
	raw := tc.NetConn()
	if g, ok := raw.(*GatherConn); ok {
		return g.Conn
	}
	return raw
}

// handshake sends the hello (asking for plain legs when plain is set) and waits for the
// pairing; it reports whether the CS announced plain legs.
func handshake(ctx context.Context, conn net.Conn, role access.Role, rawTicket string, plain bool) (plainLegs bool, err error) {
	payload, err := appendHello(nil, role, rawTicket, plain)
	if err != nil {
		return false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return false, fmt.Errorf("relay: set handshake deadline: %w", err)
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
		return false, withCtx(ctx, err)
	}
	return awaitPaired(ctx, conn, plain)
}

// awaitPaired reads the CS's answers: at most one frameAccepted, then framePaired or
// frameRefused. A framePaired that announces plain legs is a protocol violation unless the
// endpoint asked for them (askedPlain).
func awaitPaired(ctx context.Context, conn net.Conn, askedPlain bool) (plain bool, err error) {
	accepted := false
	for {
		t, p, err := readFrame(conn, maxResponseLen, ErrProtocol)
		if err != nil {
			return false, withCtx(ctx, err)
		}
		switch {
		case t == frameAccepted && !accepted && len(p) == 0:
			accepted = true
		case t == framePaired && len(p) == 0:
			return false, nil
		case t == framePaired && askedPlain && len(p) == 1 && p[0] == pairedPlain:
			return true, nil
		case t == frameRefused && validCode(string(p)):
			return false, &RefusedError{Code: string(p)}
		default:
			return false, fmt.Errorf("%w: unexpected frame type 0x%02x with %d-byte payload", ErrProtocol, byte(t), len(p))
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
