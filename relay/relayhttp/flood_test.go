package relayhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/fdlimit"
	"github.com/portcullis/portcullis/relay"
)

const (
	// slowInterval is how often a slow tunnel of a flood sends its next byte.
	slowInterval = 10 * time.Second
	// reopenPause is how long a slow tunnel of a flood waits to open again after the CS
	// refused it: slow-connection tools keep their count up at a steady rate, not in a loop
	// that would be a flood of new connections. The relay keeps a tunnel's place while its
	// handshake's steps come faster than relay.DefaultMaxHandshakesPerSource newer tunnels
	// from its address; a flood of 2,000 reopens about 1,000 tunnels per pause, so at 5 s a
	// step may take up to 5 s, which a tunnel's handshake keeps even under the race detector
	// on two busy cores (at 1 s a step took longer there once).
	reopenPause = 5 * time.Second
	// floodFDs is the descriptors one slow tunnel costs this process: its long-poll's
	// connection at both ends, and one more for a connection being replaced.
	floodFDs = 3
	// fdHeadroom is the descriptors a test needs beside its flood.
	fdHeadroom = 256
)

// rawTunnel is a tunnel opened with bare requests, as a slow or hostile client would.
type rawTunnel struct {
	hc  *http.Client
	url string
	id  string
}

// openRaw opens a tunnel to the fixture's CS without the client's workers.
func (f *fixture) openRaw(ctx context.Context, hc *http.Client) (*rawTunnel, error) {
	rt := &rawTunnel{hc: hc, url: f.url}
	status, body, err := rt.do(ctx, http.MethodPost, PathOpen, []byte{WireVersion})
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("open: HTTP %d: %s", status, body)
	}
	rt.id = string(body)
	return rt, nil
}

// send posts stream byte b as chunk seq and returns the status.
func (rt *rawTunnel) send(ctx context.Context, seq uint64, b []byte) (int, error) {
	status, _, err := rt.do(ctx, http.MethodPost, fmt.Sprintf("%s?s=%s&q=%d", PathSend, rt.id, seq),
		appendFrame(nil, 0, b))
	return status, err
}

// recvFirst long-polls the CS's first chunk and returns the status.
func (rt *rawTunnel) recvFirst(ctx context.Context) (int, error) {
	status, _, err := rt.do(ctx, http.MethodGet, fmt.Sprintf("%s?s=%s&q=0&n=1&a=0", PathRecv, rt.id), nil)
	return status, err
}

func (rt *rawTunnel) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, rt.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := rt.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxChunk+1))
	return resp.StatusCode, b, err
}

// slowFlood holds n half-open tunnels from one address, each sending one byte of its hello
// every slowInterval and long-polling for an answer, and opening a new tunnel reopenPause
// after the CS answers (a refusal) or forgets it, until the test ends.
type slowFlood struct {
	opened, refused atomic.Int64
	wg              sync.WaitGroup
}

func (f *fixture) startSlowFlood(t *testing.T, n int) *slowFlood {
	t.Helper()
	if want := floodFDs*n + fdHeadroom; func() bool { got, err := fdlimit.Raise(want); return err != nil || got < want }() {
		t.Fatalf("a flood of %d tunnels needs %d open files: raise the hard limit (ulimit -Hn) or run as root", n, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fl := &slowFlood{}
	t.Cleanup(func() {
		cancel()
		fl.wg.Wait()
	})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * n, MaxIdleConns: 2 * n}}
	t.Cleanup(hc.CloseIdleConnections)
	for range n {
		fl.wg.Go(func() {
			for ctx.Err() == nil {
				rt, err := f.openRaw(ctx, hc)
				if err != nil {
					pause(ctx, 50*time.Millisecond)
					continue
				}
				fl.opened.Add(1)
				fl.hold(ctx, rt)
				pause(ctx, reopenPause)
			}
		})
	}
	return fl
}

// hold dribbles a TLS record header into rt until the CS answers or forgets the tunnel.
func (fl *slowFlood) hold(ctx context.Context, rt *rawTunnel) {
	header := []byte{0x16, 0x03, 0x01, 0x20, 0} // a handshake record of 8 KiB: the CS reads on
	for seq := uint64(0); ctx.Err() == nil; seq++ {
		b := byte(0)
		if seq < uint64(len(header)) {
			b = header[seq]
		}
		if status, err := rt.send(ctx, seq, []byte{b}); err == nil && status == http.StatusNotFound {
			return
		}
		for next := time.Now().Add(slowInterval); time.Now().Before(next) && ctx.Err() == nil; {
			status, err := rt.recvFirst(ctx)
			switch {
			case err != nil:
				pause(ctx, 50*time.Millisecond)
			case status != http.StatusNoContent:
				fl.refused.Add(1) // the refusal (200), or the tunnel is gone (404, 410)
				return
			}
		}
	}
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// waitFor polls cond until it holds or testTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quiet(f *fixture) { f.relay.Logger, f.tunnels.Logger = nil, nil }

func TestATunnelBesideTwoThousandSlowTunnelsFromItsOwnAddressStillConnects(t *testing.T) {
	const flood = 2000
	f := newFixture(t, quiet, func(f *fixture) { f.relay.HandshakeTimeout = time.Minute })
	fl := f.startSlowFlood(t, flood)
	perSource := relay.DefaultMaxHandshakesPerSource
	waitFor(t, "the flood to fill its address's places and the rest to be refused", func() bool {
		return fl.opened.Load() >= flood && f.relay.Stats().Handshakes == perSource && fl.refused.Load() >= int64(flood-perSource)
	})
	start := time.Now()
	guest, host := f.pairOver(t, NewHTTPClient(), "ses-beside-the-flood")
	took := time.Since(start)
	exchange(t, guest, host, 64<<10)
	guest.Close()
	host.Close()
	st := f.relay.Stats()
	t.Logf("paired in %s beside %d slow tunnels (opened %d, refused %d); relay %+v, %d tunnels, %d goroutines", took, flood, fl.opened.Load(), fl.refused.Load(), st, f.tunnels.Tunnels(), runtime.NumGoroutine())
	if st.Handshakes > perSource {
		t.Fatalf("stats %+v: more half-open tunnels than one address may hold", st)
	}
}

func TestADisplacedTunnelIsToldWhy(t *testing.T) {
	const perSource = 4
	f := newFixture(t, func(f *fixture) {
		f.relay.MaxHandshakesPerSource = perSource
		f.relay.HandshakeTimeout = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, err := Open(ctx, NewHTTPClient(), f.url, f.client)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The CS finishes its side of TLS after the client: until then the tunnel has made no
	// progress there, and the flood would take the place of one of its own first.
	waitFor(t, "the tunnel to hold its place, its hello owed", func() bool {
		st := f.relay.Stats()
		return st.Handshakes == 1 && st.OwingHello == 1
	})
	f.startSlowFlood(t, perSource) // the last of them takes its place
	// Handshakes reaches perSource before the last of the flood arrives: wait for the eviction.
	waitFor(t, "the tunnel to be displaced", func() bool {
		st := f.relay.Stats()
		return st.Handshakes == perSource && st.Evicted >= 1
	})
	err = relay.Handshake(ctx, conn, access.RoleGuest, f.ticketFor(t, access.RoleGuest, "ses-displaced"))
	var refused *relay.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, access.ErrSourceBusy) {
		t.Fatalf("handshake of a displaced tunnel: %v, want the refusal source_busy", err)
	}
}

func TestWhenTheTunnelsAreAtTheirBoundAnEndedOneMakesRoomElseOpenIsRefusedAsOverloaded(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.tunnels.MaxTunnels = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	var open []net.Conn
	for range 2 {
		c, err := Open(ctx, NewHTTPClient(), f.url, f.client)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		open = append(open, c)
	}
	_, err := Open(ctx, NewHTTPClient(), f.url, f.client)
	var refused *relay.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, access.ErrOverloaded) {
		t.Fatalf("open beyond MaxTunnels: %v, want the refusal overloaded", err)
	}
	// One tunnel ends (the relay refuses a bad hello); once nobody fetches from it, it makes room.
	if _, err := open[0].Write([]byte("not a hello at all")); err != nil {
		t.Fatal(err)
	}
	if err := relay.Handshake(ctx, open[1], access.RoleGuest, "v1.not.a.ticket"); err == nil {
		t.Fatal("a ticket that is not one was accepted")
	}
	_ = open[0].Close()
	waitFor(t, "an ended tunnel to make room", func() bool {
		c, err := Open(ctx, NewHTTPClient(), f.url, f.client)
		if err != nil {
			if !errors.Is(err, access.ErrOverloaded) {
				t.Fatalf("open: %v, want success or overloaded", err)
			}
			return false
		}
		c.Close()
		return true
	})
}

func TestAHalfOpenTunnelHoldsNoMoreThanAHello(t *testing.T) {
	big := bytes.Repeat([]byte("x"), preAuthBytes+1)
	small := []byte("hello")
	cases := []struct {
		name   string
		authed bool
		seq    uint64
		data   []byte
		want   error
	}{
		{"in order, small", false, 0, small, nil},
		{"out of order", false, 1, small, errWindow},
		{"beyond the budget", false, 0, big, errWindow},
		{"authenticated, out of order", true, 1, small, nil},
		{"authenticated, large", true, 0, big, nil},
		{"authenticated, beyond the window", true, window, small, errWindow},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream(&net.TCPAddr{}, &net.TCPAddr{}, nil)
			if tc.authed {
				s.Authenticated()
			}
			if err := s.deliver(tc.seq, chunk{data: tc.data}, nil); !errors.Is(err, tc.want) {
				t.Fatalf("deliver: %v, want %v", err, tc.want)
			}
		})
	}
	// A half-open tunnel holds as many long-polls as a client makes; one more is answered at
	// once with nothing. Once authenticated, the window bounds them.
	s := newStream(&net.TCPAddr{}, &net.TCPAddr{}, nil)
	done := make(chan struct{})
	defer close(done)
	hold := time.Now().Add(testTimeout)
	for seq := range uint64(preAuthPolls) {
		go func() { _, _, _ = s.chunkAt(seq, 0, hold, done) }()
	}
	waitFor(t, "the polls to be held", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.held == preAuthPolls })
	start := time.Now()
	if _, ok, err := s.chunkAt(preAuthPolls, 0, hold, done); ok || err != nil || time.Since(start) > testTimeout/2 {
		t.Fatalf("a poll beyond preAuthPolls: ok %v, err %v after %s; want an empty answer at once", ok, err, time.Since(start))
	}
	s.Authenticated()
	go func() { _, _, _ = s.chunkAt(preAuthPolls, 0, hold, done) }()
	waitFor(t, "the authenticated tunnel to hold one more poll", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.held == preAuthPolls+1 })
	// The real client's hello fits, and the relay lifts the budget once the ticket verified.
	if len(strings.Repeat("t", relay.MaxTicketSize))+64 > preAuthBytes {
		t.Fatalf("preAuthBytes %d is smaller than the largest hello", preAuthBytes)
	}
}

func TestAHalfOpenTunnelWhoseHandshakeBytesArriveKeepsItsPlace(t *testing.T) {
	// Over HTTP a TLS handshake takes several requests. Each one's bytes are progress: the
	// tunnel that sent last is not the one a newcomer displaces, the silent one is.
	f := newFixture(t, func(f *fixture) {
		f.relay.MaxHandshakesPerSource = 2
		f.relay.HandshakeTimeout = time.Minute
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	open := func(name string) *rawTunnel {
		rt, err := f.openRaw(ctx, hc)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return rt
	}
	send := func(name string, rt *rawTunnel, seq uint64, b byte) {
		if status, err := rt.send(ctx, seq, []byte{b}); err != nil || status/100 != 2 {
			t.Fatalf("%s: send chunk %d: HTTP %d, %v", name, seq, status, err)
		}
	}
	talking := open("talking")
	send("talking", talking, 0, 0x16)
	waitFor(t, "the first tunnel to hold its place", func() bool { return f.relay.Stats().Handshakes == 1 })
	silent := open("silent")
	waitFor(t, "the second tunnel to hold its place", func() bool { return f.relay.Stats().Handshakes == 2 })
	send("talking", talking, 1, 0x03) // taken (and counted) before the answer: now the silent one waited longest
	open("newcomer")
	waitFor(t, "a tunnel to be displaced", func() bool { return f.relay.Stats().Evicted >= 1 })
	// A displaced tunnel that never finished TLS cannot read a refusal: the CS ends it once
	// its linger is over, and its polls are answered as for a tunnel that is gone.
	for {
		status, err := silent.recvFirst(ctx)
		if err != nil {
			t.Fatalf("the silent tunnel: %v", err)
		}
		if status != http.StatusNoContent {
			break
		}
	}
	if status, err := talking.recvFirst(ctx); err != nil || status != http.StatusNoContent {
		t.Fatalf("the talking tunnel: HTTP %d, %v; want nothing yet (it keeps its place)", status, err)
	}
	if st := f.relay.Stats(); st.Handshakes != 2 {
		t.Fatalf("%d handshakes in progress, want 2: the talking tunnel's and the newcomer's", st.Handshakes)
	}
}
