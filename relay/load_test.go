package relay

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/ticket"
)

func TestAThousandConcurrentSessionsOnOneServerEachPassTheirDataIntact(t *testing.T) {
	const sessions, size = 1000, 8 << 10
	f := newFixture(t, func(s *Server) {
		s.MaxHandshakesPerSource = 4 * sessions // every test client comes from 127.0.0.1
		s.Logger = nil
	})
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Go(func() { errs <- f.oneSession(t, fmt.Sprintf("ses-load-%04d", i), size) })
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d sessions failed", failed, sessions)
	}
	for range sessions {
		if r := f.report(t); r.Reason != EndClosed || r.BytesGuestToHost != size || r.BytesHostToGuest != size {
			t.Fatalf("report %+v, want closed with %d bytes each way", r, size)
		}
	}
}

// oneSession pairs session sid, sends size distinct bytes each way and checks them.
func (f *fixture) oneSession(t *testing.T, sid string, size int) error {
	type res struct {
		c   net.Conn
		err error
	}
	hostCh := make(chan res, 1)
	go func() {
		c, err := f.dial(t, f.ticketFor(t, ticket.RoleHost, sid))
		hostCh <- res{c, err}
	}()
	guest, err := f.dial(t, f.ticketFor(t, ticket.RoleGuest, sid))
	h := <-hostCh
	if err != nil || h.err != nil {
		return fmt.Errorf("%s: dial guest %v, host %v", sid, err, h.err)
	}
	up, down := bytes.Repeat([]byte(sid+">"), size/(len(sid)+1)+1)[:size], bytes.Repeat([]byte(sid+"<"), size/(len(sid)+1)+1)[:size]
	go send(t, guest, up)
	go send(t, h.c, down)
	gotUp, gotDown := readAll(t, h.c), readAll(t, guest)
	_ = guest.Close()
	_ = h.c.Close()
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		return fmt.Errorf("%s: data corrupted (%d/%d up, %d/%d down)", sid, len(gotUp), size, len(gotDown), size)
	}
	return nil
}

func TestASlowClientFloodDoesNotStopALegitimateSession(t *testing.T) {
	const flood, perSource = 300, 16
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(s *Server) {
		s.MaxHandshakes = 100 // the flood alone would fill this without the per-source bound
		s.MaxHandshakesPerSource = perSource
		s.HandshakeTimeout = time.Minute // slow clients hold their slot as long as they may
		s.Metrics = metrics
	})
	// The flood: connections from another address that open TCP and then say nothing.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: testTimeout}
	var held []net.Conn
	for range flood {
		c, err := d.Dial("tcp", f.addr)
		if err != nil {
			t.Fatalf("flood dial: %v", err)
		}
		held = append(held, c)
	}
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	f.waitFor(t, "the flood to be dropped beyond its bound", func(Stats) bool {
		return testutil.ToFloat64(metrics.refusals.WithLabelValues(admitSourceFull)) == flood-perSource
	})
	// A legitimate session from 127.0.0.1 connects and works while the flood holds its slots.
	guest, host := f.pair(t, "ses-legit")
	go send(t, guest, []byte("ping"))
	if got := readAll(t, host); string(got) != "ping" {
		t.Fatalf("host got %q, want ping", got)
	}
	if got := testutil.ToFloat64(metrics.handshakes); got != perSource {
		t.Fatalf("handshakes in progress %v, want the flood's bound %d", got, perSource)
	}
}
