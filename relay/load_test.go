package relay

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/access"
)

func TestAThousandConcurrentSessionsOnOneServerEachPassTheirDataIntact(t *testing.T) {
	const sessions, size, dialers = 1000, 8 << 10, 16
	f := newFixture(t, func(s *Server) {
		s.MaxHandshakesPerSource = 4 * dialers // every test client comes from 127.0.0.1
		s.Logger = nil
	})
	// First all thousand sessions are paired (dialing a few at a time), and stay open together.
	pairs := make([][2]net.Conn, sessions)
	errs := make(chan error, sessions)
	sem := make(chan struct{}, dialers)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			g, h, err := f.pairQuietly(t, fmt.Sprintf("ses-load-%04d", i))
			pairs[i] = [2]net.Conn{g, h}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failures(t, errs, sessions)
	if st := f.srv.Stats(); st.Live != sessions {
		t.Fatalf("%d live sessions, want %d", st.Live, sessions)
	}
	// Then every session sends its own bytes both ways at once.
	errs = make(chan error, sessions)
	for i, p := range pairs {
		wg.Go(func() { errs <- exchangeIntact(t, fmt.Sprintf("ses-load-%04d", i), p[0], p[1], size) })
	}
	wg.Wait()
	close(errs)
	failures(t, errs, sessions)
	for range sessions {
		if r := f.report(t); r.Reason != EndClosed || r.BytesGuestToHost != size || r.BytesHostToGuest != size {
			t.Fatalf("report %+v, want closed with %d bytes each way", r, size)
		}
	}
}

// failures fails the test when any of the n results is an error, showing the first few.
func failures(t *testing.T, errs <-chan error, n int) {
	t.Helper()
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d sessions failed", failed, n)
	}
}

// pairQuietly pairs session sid, reporting failure as an error.
func (f *fixture) pairQuietly(t *testing.T, sid string) (guest, host net.Conn, err error) {
	hostCh := f.dialAsync(t, f.ticketFor(t, access.RoleHost, sid))
	guest, gerr := f.dial(t, f.ticketFor(t, access.RoleGuest, sid))
	h := <-hostCh
	if gerr != nil || h.err != nil {
		return nil, nil, fmt.Errorf("%s: dial guest %v, host %v", sid, gerr, h.err)
	}
	return guest, h.conn, nil
}

// exchangeIntact sends size bytes proper to sid each way, half-closes, and checks both.
func exchangeIntact(t *testing.T, sid string, guest, host net.Conn, size int) error {
	pattern := func(dir string) []byte {
		return bytes.Repeat([]byte(sid+dir), size/(len(sid)+1)+1)[:size]
	}
	up, down := pattern(">"), pattern("<")
	go send(t, guest, up)
	go send(t, host, down)
	gotUp, gotDown := readAll(t, host), readAll(t, guest)
	_ = guest.Close()
	_ = host.Close()
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		return fmt.Errorf("%s: data corrupted (%d/%d up, %d/%d down)", sid, len(gotUp), size, len(gotDown), size)
	}
	return nil
}
