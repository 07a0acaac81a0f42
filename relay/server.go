package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

// Defaults of the Server's zero-valued fields, and fixed limits.
const (
	// DefaultPairTimeout is how long a verified half waits for the other one.
	DefaultPairTimeout = 15 * time.Second
	// DefaultHandshakeTimeout bounds the TLS handshake, reading the hello and answering it.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxPending is how many verified halves may wait for their peer at once.
	DefaultMaxPending = 10000
	// DefaultMaxHandshakes bounds the connections not yet authenticated, from everyone; as
	// many more may be being refused after losing their place (see MaxHandshakes).
	DefaultMaxHandshakes = 10000
	// DefaultMaxHandshakesPerSource bounds the connections not yet authenticated from one
	// source address. A connection keeps its place until this many newer ones from its
	// address arrive while it makes no progress: at 1024, a flood must open over 10,000
	// connections a second from one address to displace a client whose TLS handshake and
	// hello take 100 ms.
	DefaultMaxHandshakesPerSource = 1024
	// DefaultMaxLive bounds the spliced sessions (each holds two TLS connections, and a copy
	// buffer per direction while bytes flow).
	DefaultMaxLive = 10000

	// refuseWriteTimeout bounds writing a frameRefused (or framePaired) to a half.
	refuseWriteTimeout = 5 * time.Second
	// evictedLinger is how long a connection that lost its place has to finish its TLS
	// handshake and take its refusal (ErrSourceBusy) before the CS closes it.
	evictedLinger = 2 * time.Second
	// refuseLinger is how long a refused half may keep sending before the CS closes it, so
	// that closing with unread bytes (a TCP reset) does not destroy the refusal in flight.
	refuseLinger = 500 * time.Millisecond
	// maxLingerBytes bounds what the CS reads and discards from a refused half.
	maxLingerBytes = 64 << 10
	// minAcceptBackoff and maxAcceptBackoff bound the wait after a failed Accept.
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = 1 * time.Second
)

// Server is a Connection Server. Set its fields, then call Serve with one or more listeners (TLS,
// or the HTTP fallback's relayhttp.Server); the fields must not change after that. A Server must not be copied after first use.
type Server struct {
	// ID is this CS's id, the audience its tickets carry. Required.
	ID string
	// Verifier checks tickets. Required; its Audience must equal ID and it must have a Replay
	// cache, so each ticket admits once.
	Verifier *ticket.Verifier
	// PairTimeout is how long a verified half waits for the other one; 0 means
	// DefaultPairTimeout.
	PairTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake plus reading and answering the hello; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxPending bounds the halves waiting for their peer; 0 means DefaultMaxPending.
	MaxPending int
	// MaxHandshakes bounds the connections before their hello is read; 0 means
	// DefaultMaxHandshakes. A connection beyond it takes the place of the one that has gone
	// longest without progress from the source address (an IPv4 address, an IPv6 /64) that
	// holds the most; the displaced one is refused with access.ErrSourceBusy (as many as
	// MaxHandshakes at once, each within a short linger; beyond that, closed at once).
	MaxHandshakes int
	// MaxHandshakesPerSource bounds those from one source address; 0 means
	// DefaultMaxHandshakesPerSource. A connection beyond it takes the place of the one from
	// its own address that has gone longest without progress, refused as above.
	MaxHandshakesPerSource int
	// MaxLive bounds the spliced sessions; 0 means DefaultMaxLive. A pairing beyond it is
	// refused as overloaded.
	MaxLive int
	// Metrics, if set, receives the server's counters (see NewMetrics).
	Metrics *Metrics
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// OnPaired, if set, is called once per session when its halves are paired, on that
	// session's goroutine before the splice starts: hand slow work off.
	OnPaired func(PairReport)
	// OnSessionEnd, if set, is called once per spliced session after both halves are closed,
	// on that session's goroutine (Shutdown waits for it): hand slow work off.
	OnSessionEnd func(SessionReport)

	once      sync.Once
	mu        sync.Mutex
	closing   bool
	done      chan struct{} // closed by Shutdown
	listeners map[net.Listener]struct{}
	admission *admission          // connections before their hello is read
	leaving   int                 // connections that lost their place, not yet refused
	pending   map[string]*half    // by session id
	live      map[string]*session // by session id
	wg        sync.WaitGroup      // connection handlers (which run the splices)
	bytes     atomic.Int64
	buffers   sync.Pool // *[]byte of spliceLargeBuffer bytes, lent to busy splice directions
	idleOnce  sync.Once
	idle      atomic.Pointer[waiterRef] // watches parked splice directions; nil where parking is off
	parkAfter time.Duration             // 0 means the parkAfter constant; tests shorten it
}

// SessionReport describes one finished spliced session.
type SessionReport struct {
	// SessionID is the session's id from its tickets.
	SessionID string
	// Started is when the two halves were paired; Ended is when the splice ended.
	Started, Ended time.Time
	// BytesGuestToHost and BytesHostToGuest count the session bytes relayed each way.
	BytesGuestToHost, BytesHostToGuest int64
	// Reason is how the session ended: EndClosed, EndError, EndShutdown, EndMaxDuration, or
	// the reason given to EndSession (the CM's order).
	Reason string
	// GuestTransport and HostTransport name how each half reached the CS: "tcp" or "http", or
	// TransportTCPPlain for a plain leg.
	GuestTransport, HostTransport string
}

// PairReport describes a session whose halves were just paired.
type PairReport struct {
	// SessionID is the session's id from its tickets.
	SessionID string
	// Waited is how long the first half waited for the second.
	Waited time.Duration
	// GuestTransport and HostTransport name how each half reached the CS: "tcp" or "http", or
	// TransportTCPPlain for a plain leg.
	GuestTransport, HostTransport string
}

// Session end reasons in SessionReport.Reason.
const (
	// EndClosed: both halves finished sending.
	EndClosed = "closed"
	// EndError: a half failed (reset, write error), and the other was cut.
	EndError = "error"
	// EndShutdown: Shutdown's context ended before the session did, and the CS cut it.
	EndShutdown = "shutdown"
)

// Stats is a snapshot of a Server's load.
type Stats struct {
	// Live is the number of spliced sessions.
	Live int
	// Pending is the number of verified halves waiting for their peer.
	Pending int
	// Bytes is the number of session bytes relayed since the server started, both directions.
	Bytes int64
	// Handshakes is the number of connections not yet authenticated that hold a place.
	Handshakes int
	// OwingHello is the number of those that finished their TLS handshake and owe their hello.
	OwingHello int
	// Evicted is the number of connections that lost their place and are being refused.
	Evicted int
	// Parked is the number of idle splice directions that hold no goroutine (two per idle
	// session where parking is built: Linux).
	Parked int
}

// half is a verified connection waiting for the other half of its session.
type half struct {
	conn    net.Conn
	role    access.Role
	plain   bool          // the half asked for plain legs, and its ticket allows them
	since   time.Time     // when the half was accepted
	claimed chan struct{} // closed when the other half takes the connection over
}

// session is a pair of halves being spliced.
type session struct {
	id                       string
	guest, host              net.Conn
	started                  time.Time
	guestToHost, hostToGuest atomic.Int64
	failed, forced           atomic.Bool
	guestTransport           string
	hostTransport            string
	plain                    bool                   // both legs drop TLS once paired
	endReason                atomic.Pointer[string] // set by end: why the session was cut
	limit                    *time.Timer            // the maximum duration; nil for none
	running                  atomic.Int32           // splice directions not finished
	mu                       sync.Mutex             // guards closed, wakes, and guest and host while dropTLS moves them
	closed                   bool                   // closeBoth was called
	wakes                    [2]func()              // by direction: cancels the watch of a parked one
}

// Validate reports every configuration problem at once.
func (s *Server) Validate() error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, errors.New("relay: Server.ID is empty"))
	}
	switch v := s.Verifier; {
	case v == nil:
		errs = append(errs, errors.New("relay: Server.Verifier is nil"))
	default:
		if v.Audience != s.ID {
			errs = append(errs, fmt.Errorf("relay: Verifier.Audience %q differs from Server.ID %q", v.Audience, s.ID))
		}
		if v.Replay == nil {
			errs = append(errs, errors.New("relay: Verifier.Replay is nil: tickets would admit more than once"))
		}
		if v.Keys == nil {
			errs = append(errs, errors.New("relay: Verifier.Keys is nil"))
		}
	}
	if s.PairTimeout < 0 || s.HandshakeTimeout < 0 || s.MaxPending < 0 || s.MaxHandshakes < 0 || s.MaxHandshakesPerSource < 0 || s.MaxLive < 0 {
		errs = append(errs, errors.New("relay: PairTimeout, HandshakeTimeout, MaxPending, MaxHandshakes, MaxHandshakesPerSource and MaxLive must not be negative"))
	}
	return errors.Join(errs...)
}

// Serve accepts connections on ln and handles each until Shutdown. ln is a TLS listener, or
// another transport that protects the stream, such as relayhttp.Server: the hello carries the
// ticket, so a plain TCP listener would expose it.
// It returns ErrServerClosed after Shutdown, or a configuration error from Validate.
// Serve may be called for several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.Validate(); err != nil {
		return err
	}
	s.init()
	if !s.addListener(ln) {
		_ = ln.Close()
		return ErrServerClosed
	}
	defer s.removeListener(ln)
	// Pauses after failed Accepts (out of file descriptors): doubling, reset by a success.
	pauses := &backoff.ExponentialBackOff{InitialInterval: minAcceptBackoff, Multiplier: 2, MaxInterval: maxAcceptBackoff}
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() || errors.Is(err, net.ErrClosed) {
				return s.closedErr(err)
			}
			pause := pauses.NextBackOff()
			s.logger().Warn("relay: accept failed; retrying", "err", err, "backoff", pause)
			time.Sleep(pause)
			continue
		}
		pauses.Reset()
		if !s.track() {
			_ = conn.Close()
			return ErrServerClosed
		}
		go func() {
			defer s.wg.Done()
			s.handle(conn)
		}()
	}
}

// ServeConn runs the relay protocol on one connection accepted elsewhere (another transport,
// such as an HTTP upgrade). It returns when the half is refused, handed to its peer's
// handler, or its session is spliced (the splice runs on goroutines of its own); the
// connection is closed or owned by the server by then.
func (s *Server) ServeConn(conn net.Conn) error {
	if err := s.Validate(); err != nil {
		_ = conn.Close()
		return err
	}
	s.init()
	if !s.track() {
		s.refuse(conn, access.ErrShuttingDown)
		return ErrServerClosed
	}
	defer s.wg.Done()
	s.handle(conn)
	return nil
}

// Shutdown stops accepting, refuses the halves that are still handshaking or waiting for their
// peer ("shutting_down"), and waits for live sessions to end. When ctx ends first it cuts the
// live sessions (reason EndShutdown), waits for their handlers, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	s.admission.each(func(a *attempt) {
		_ = a.conn.SetDeadline(time.Now()) // unblocks the read; the handler refuses with shutting_down
	})
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return s.stopWaiter()
	case <-ctx.Done():
	}
	s.cutLive()
	<-finished
	return errors.Join(fmt.Errorf("relay: shutdown: %w", ctx.Err()), s.stopWaiter())
}

// stopWaiter stops the watch of parked directions (none is left once every handler ended).
func (s *Server) stopWaiter() error {
	s.idleOnce.Do(func() {}) // no watcher starts after this
	if w := s.idle.Load(); w != nil {
		return w.close()
	}
	return nil
}

// Stats returns the server's current load.
func (s *Server) Stats() Stats {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Live: len(s.live), Pending: len(s.pending), Bytes: s.bytes.Load(), Handshakes: s.admission.len(), OwingHello: s.admission.owingHello(), Evicted: s.leaving}
	if w := s.idle.Load(); w != nil {
		st.Parked = w.len()
	}
	return st
}

// init allocates the server's state on first use.
func (s *Server) init() {
	s.once.Do(func() {
		s.done = make(chan struct{})
		s.listeners = make(map[net.Listener]struct{})
		s.admission = newAdmission(orDefault(s.MaxHandshakes, DefaultMaxHandshakes), orDefault(s.MaxHandshakesPerSource, DefaultMaxHandshakesPerSource))
		s.pending = make(map[string]*half)
		s.live = make(map[string]*session)
		s.buffers.New = func() any {
			b := make([]byte, spliceLargeBuffer)
			return &b
		}
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) pairTimeout() time.Duration {
	return orDefault(s.PairTimeout, DefaultPairTimeout)
}

func (s *Server) handshakeTimeout() time.Duration {
	return orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
}

func (s *Server) maxPending() int {
	return orDefault(s.MaxPending, DefaultMaxPending)
}

func (s *Server) maxLive() int {
	return orDefault(s.MaxLive, DefaultMaxLive)
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// closedErr is Serve's result when Accept fails: ErrServerClosed after Shutdown, the accept
// error otherwise (the listener was closed by someone else).
func (s *Server) closedErr(err error) error {
	if s.isClosing() {
		return ErrServerClosed
	}
	return fmt.Errorf("relay: accept: %w", err)
}

// track counts one more connection handler unless the server is shutting down. Counting under
// the lock that Shutdown takes keeps wg.Add ahead of wg.Wait.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) addListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) removeListener(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

// cutLive closes every live session's connections (Shutdown's deadline passed).
func (s *Server) cutLive() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sess := range s.live {
		sess.forced.Store(true)
		sess.closeBoth()
	}
}

// reason says how the session ended.
func (sess *session) reason() string {
	if r := sess.endReason.Load(); r != nil {
		return *r
	}
	switch {
	case sess.forced.Load():
		return EndShutdown
	case sess.failed.Load():
		return EndError
	}
	return EndClosed
}
