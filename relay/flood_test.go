package relay

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/fdlimit"
	"github.com/portcullis/portcullis/internal/slowconn"
)

const (
	// slowInterval is how often a slow connection of a flood sends its next byte.
	slowInterval = 10 * time.Second
	// reopenPause is how long a slow connection of a flood waits to dial again after the CS
	// closed it: slow-connection tools keep their count up at a steady rate, not in a loop
	// that would be a flood of new connections (see DefaultMaxHandshakesPerSource).
	reopenPause = time.Second
	// floodFDs is the descriptors one flooded connection costs this process: the flood's end
	// and the CS's end, and one more for a connection being replaced.
	floodFDs = 3
	// fdHeadroom is the descriptors a test needs beside its flood.
	fdHeadroom = 256
)

// slowHello is what a slow connection sends, a byte at a time: the header of a TLS record
// that announces a 512-byte ClientHello (so the CS reads on), then zeros.
var slowHello = []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}

// slowFlood holds n connections from one address to a CS, each sending one byte every
// slowInterval and dialing again reopenPause after the CS closed it, until the test ends.
type slowFlood struct {
	opened, closed atomic.Int64
	wg             sync.WaitGroup
}

// startSlowFlood starts n slow connections from ip to addr; they stop at the test's cleanup.
func startSlowFlood(t *testing.T, addr string, ip net.IP, n int) *slowFlood {
	t.Helper()
	needFDs(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	f := &slowFlood{}
	t.Cleanup(func() {
		cancel()
		f.wg.Wait()
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: testTimeout}
	for range n {
		f.wg.Go(func() {
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					pause(ctx, 50*time.Millisecond) // out of ports or descriptors for a moment
					continue
				}
				f.opened.Add(1)
				f.hold(ctx, c)
				pause(ctx, reopenPause)
			}
		})
	}
	return f
}

// hold dribbles slowHello into c until the CS closes c or ctx ends.
func (f *slowFlood) hold(ctx context.Context, c net.Conn) {
	if slowconn.Dribble(ctx, c, slowHello, slowInterval) {
		f.closed.Add(1)
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// needFDs raises this process's open-file limit for a flood of n connections, and fails the
// test when the hard limit does not allow it.
func needFDs(t *testing.T, n int) {
	t.Helper()
	want := floodFDs*n + fdHeadroom
	got, err := fdlimit.Raise(want)
	if err != nil || got < want {
		t.Fatalf("a flood of %d connections needs %d open files; the limit is %d (%v): raise the hard limit (ulimit -Hn) or run as root", n, want, got, err)
	}
}

// withMetrics gives the fixture's server a fresh metrics registry.
func withMetrics(t *testing.T) (*Metrics, func(*Server)) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m, func(s *Server) { s.Metrics = m }
}

// timedPair pairs session sid and checks that bytes pass; it returns how long the pairing took.
func (f *fixture) timedPair(t *testing.T, sid string) time.Duration {
	t.Helper()
	start := time.Now()
	guest, host := f.pair(t, sid)
	took := time.Since(start)
	go send(t, guest, []byte("through the flood"))
	if got := readAll(t, host); string(got) != "through the flood" {
		t.Fatalf("host got %q", got)
	}
	return took
}

func TestAClientBesideTwoThousandSlowConnectionsFromItsOwnAddressStillConnects(t *testing.T) {
	const flood = 2000
	metrics, withM := withMetrics(t)
	f := newFixture(t, func(s *Server) {
		withM(s)
		s.Logger = nil                   // one line per displaced connection would drown the test log
		s.HandshakeTimeout = time.Minute // the worst case: slow connections keep their places as long as they may
	})
	fl := startSlowFlood(t, f.addr, net.IPv4(127, 0, 0, 1), flood)
	f.waitFor(t, "the flood to fill its address's places and the rest to be displaced", func(s Stats) bool {
		return fl.opened.Load() >= flood && s.Handshakes == DefaultMaxHandshakesPerSource && fl.closed.Load() >= flood-DefaultMaxHandshakesPerSource
	})
	// A Host and a Guest from the same address connect while the flood goes on.
	took := f.timedPair(t, "ses-beside-the-flood")
	t.Logf("paired in %s beside %d slow connections (opened %d, displaced %d)", took, flood, fl.opened.Load(), fl.closed.Load())
	st := f.srv.Stats()
	if st.Handshakes > DefaultMaxHandshakesPerSource || st.Evicted > DefaultMaxHandshakes {
		t.Fatalf("stats %+v: more handshakes than one address may hold, or more evicted than the server refuses at once", st)
	}
	if n := testutil.ToFloat64(metrics.refusals.WithLabelValues(string(access.ErrSourceBusy))); n < flood-DefaultMaxHandshakesPerSource {
		t.Fatalf("%v connections refused as source_busy, want at least %d", n, flood-DefaultMaxHandshakesPerSource)
	}
}

func TestAFloodFromAnotherAddressCannotCrowdOutALegitimateSession(t *testing.T) {
	const flood, limit = 300, 100
	metrics, withM := withMetrics(t)
	f := newFixture(t, func(s *Server) {
		withM(s)
		s.Logger = nil
		s.MaxHandshakes = limit // the flood alone would fill this
		s.HandshakeTimeout = time.Minute
	})
	fl := startSlowFlood(t, f.addr, net.IPv4(127, 0, 0, 2), flood)
	f.waitFor(t, "the flood to fill every place", func(s Stats) bool {
		return fl.opened.Load() >= flood && s.Handshakes == limit
	})
	took := f.timedPair(t, "ses-legit")
	t.Logf("paired in %s while %d slow connections from another address held every place", took, flood)
	if st := f.srv.Stats(); st.Handshakes > limit {
		t.Fatalf("stats %+v: more handshakes than MaxHandshakes %d", st, limit)
	}
	if got := testutil.ToFloat64(metrics.handshakes); got > limit {
		t.Fatalf("handshakes in progress %v, want at most %d", got, limit)
	}
	f.waitFor(t, "the displaced connections to be refused as source_busy", func(Stats) bool {
		return testutil.ToFloat64(metrics.refusals.WithLabelValues(string(access.ErrSourceBusy))) >= flood-limit
	})
}

func TestADisplacedClientIsToldWhy(t *testing.T) {
	const perSource = 4
	cases := []struct {
		name string
		// helloSent: the client sent its hello header before it was displaced, and waits
		// for the rest of its hello's bytes.
		helloSent bool
	}{
		{"waiting to send its hello", false},
		{"halfway through its hello", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(s *Server) {
				s.MaxHandshakesPerSource = perSource
				s.HandshakeTimeout = time.Minute
			})
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			d := tls.Dialer{Config: f.client}
			conn, err := d.DialContext(ctx, "tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.helloSent {
				if _, err := conn.Write([]byte{byte(frameHello), 0, 0, 1, 0}); err != nil {
					t.Fatal(err)
				}
			}
			f.waitFor(t, "the client to hold its place", func(s Stats) bool { return s.Handshakes == 1 })
			// perSource newer slow connections from its address: the last one takes its place.
			startSlowFlood(t, f.addr, net.IPv4(127, 0, 0, 1), perSource)
			_ = conn.SetDeadline(time.Now().Add(testTimeout))
			_, err = awaitPaired(ctx, conn, false)
			wantRefused(t, err, access.ErrSourceBusy, access.ErrSourceBusy)
			if st := f.srv.Stats(); st.Handshakes != perSource {
				t.Errorf("stats %+v, want the %d slow connections holding their places", st, perSource)
			}
		})
	}
}

func TestAConnectionThatNeverFinishesTLSIsClosedSoonAfterItLosesItsPlace(t *testing.T) {
	f := newFixture(t, func(s *Server) {
		s.MaxHandshakesPerSource = 1
		s.HandshakeTimeout = time.Minute
	})
	first, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	f.waitFor(t, "the first to hold its place", func(s Stats) bool { return s.Handshakes == 1 })
	second, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	f.waitFor(t, "the first to be displaced", func(s Stats) bool { return s.Evicted == 1 })
	// The first says nothing: within the linger (not the minute of its handshake) it is closed.
	_ = first.SetReadDeadline(time.Now().Add(testTimeout))
	start := time.Now()
	if _, err := first.Read(make([]byte, 1)); err == nil || slowconn.IsTimeout(err) {
		t.Fatalf("read on the displaced connection: %v, want it closed", err)
	}
	if waited := time.Since(start); waited > testTimeout/2 {
		t.Fatalf("closed after %s", waited)
	}
	f.waitFor(t, "the evicted count to drop", func(s Stats) bool { return s.Evicted == 0 && s.Handshakes == 1 })
}
