package relay

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testParkAfter is how long a direction stays idle before it parks in these tests.
const testParkAfter = 50 * time.Millisecond

// newParkingFixture is a fixture with metrics whose idle directions park after testParkAfter.
func newParkingFixture(t *testing.T) *fixture {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("idle directions park on Linux only; elsewhere they keep their goroutines (the other tests cover that)")
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, func(s *Server) { s.parkAfter, s.Metrics = testParkAfter, m })
}

// wantParkedGauge checks the parked directions' gauge.
func wantParkedGauge(t *testing.T, f *fixture, want float64) {
	t.Helper()
	if got := testutil.ToFloat64(f.srv.Metrics.parked); got != want {
		t.Errorf("portcullis_relay_directions_parked = %v, want %v", got, want)
	}
}

func TestAnIdleSessionParksAndItsBytesStillArriveIntact(t *testing.T) {
	f := newParkingFixture(t)
	guest, host := f.pair(t, "s-idle")
	f.waitFor(t, "both directions to park", func(s Stats) bool { return s.Parked == 2 && s.Live == 1 })
	wantParkedGauge(t, f, 2)
	// Bytes wake the direction they travel; the session parks again when they are through.
	for round := range 3 {
		if err := exchangeOne(guest, host, []byte("ping")); err != nil {
			t.Fatalf("round %d guest to host: %v", round, err)
		}
		if err := exchangeOne(host, guest, []byte("pong")); err != nil {
			t.Fatalf("round %d host to guest: %v", round, err)
		}
		f.waitFor(t, "both directions to park again", func(s Stats) bool { return s.Parked == 2 })
	}
	if err := exchangeIntact(t, "s-idle", guest, host, 1<<20); err != nil {
		t.Fatal(err)
	}
	r := f.report(t)
	if want := int64(3*4 + 1<<20); r.Reason != EndClosed || r.BytesGuestToHost != want || r.BytesHostToGuest != want {
		t.Errorf("report %+v, want closed with %d bytes each way", r, want)
	}
	f.waitFor(t, "no parked direction left", func(s Stats) bool { return s.Parked == 0 && s.Live == 0 })
	wantParkedGauge(t, f, 0)
}

func TestAParkedSessionEndsWhenCut(t *testing.T) {
	for _, c := range []struct {
		name, want string
		cut        func(*fixture, *testing.T)
	}{
		{"the CM ends it", "locked: test", func(f *fixture, t *testing.T) {
			if !f.srv.EndSession("s-parked", "locked: test") {
				t.Error("EndSession does not find the parked session")
			}
		}},
		{"shutdown runs out of time", EndShutdown, func(f *fixture, t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := f.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want the deadline", err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newParkingFixture(t)
			guest, host := f.pair(t, "s-parked")
			f.waitFor(t, "both directions to park", func(s Stats) bool { return s.Parked == 2 })
			c.cut(f, t)
			wantClosed(t, guest, "guest")
			wantClosed(t, host, "host")
			if r := f.report(t); r.Reason != c.want {
				t.Errorf("report %+v, want reason %q", r, c.want)
			}
		})
	}
}

func TestOneHalfLeavingAParkedSessionEndsIt(t *testing.T) {
	f := newParkingFixture(t)
	guest, host := f.pair(t, "s-leave")
	f.waitFor(t, "both directions to park", func(s Stats) bool { return s.Parked == 2 })
	_ = guest.Close()
	wantClosed(t, host, "host")
	_ = host.Close()
	if r := f.report(t); r.SessionID != "s-leave" {
		t.Errorf("report %+v, want s-leave's", r)
	}
	f.waitFor(t, "the session to be gone", func(s Stats) bool { return s.Live == 0 && s.Parked == 0 })
}

// exchangeOne writes p to from and reads exactly len(p) bytes from to.
func exchangeOne(from, to interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}, p []byte) error {
	if _, err := from.Write(p); err != nil {
		return err
	}
	_ = to.SetReadDeadline(time.Now().Add(testTimeout))
	got := make([]byte, len(p))
	for n := 0; n < len(p); {
		m, err := to.Read(got[n:])
		if err != nil {
			return err
		}
		n += m
	}
	if string(got) != string(p) {
		return errors.New("bytes changed: " + string(got))
	}
	return nil
}
