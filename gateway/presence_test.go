package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// hostCount is the fleet size the presence tests model.
const hostCount = 100_000

func TestHeartbeatsOfAHundredThousandHostsAreOneBatchAndBoundedInMemory(t *testing.T) {
	t.Parallel()
	p := newPresence(pollRefresh(10 * time.Second))
	ids := make([]string, hostCount)
	for i := range ids {
		ids[i] = fmt.Sprintf("h_%06d", i)
	}
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for round := range 3 { // three heartbeats from every Host within one flush interval
		for _, id := range ids {
			p.seen(id, t0.Add(time.Duration(round)*time.Second))
		}
	}
	batch := p.drainDirty(t0.Add(3 * time.Second))
	if len(batch) != hostCount {
		t.Fatalf("one flush carries %d entries, want one per Host (%d)", len(batch), hostCount)
	}
	if got := batch[ids[42]].At; !got.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("the batch keeps %v for a Host, want its latest heartbeat", got)
	}
	if again := p.drainDirty(t0.Add(4 * time.Second)); len(again) != 0 {
		t.Errorf("a second flush without heartbeats carries %d entries", len(again))
	}
	if len(p.hosts) != hostCount {
		t.Errorf("presence holds %d Hosts, want %d: memory grows with Hosts, not heartbeats", len(p.hosts), hostCount)
	}
}

func TestAdmissionTurnsAwayWhatItCannotServeInTime(t *testing.T) {
	t.Parallel()
	a := newAdmission(1)
	release, ok := a.enter(context.Background())
	if !ok {
		t.Fatal("the first request found no slot")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := a.enter(ctx); ok {
		t.Fatal("a second request got the only slot while it was taken")
	}
	release()
	if _, ok := a.enter(context.Background()); !ok {
		t.Fatal("a released slot was not reusable")
	}
}

func TestAHostIsOnlineIfAnyReplicaSawItWithinTheWindow(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	const window = 30 * time.Second
	for _, c := range []struct {
		name       string
		storeSeen  time.Duration // when the store says it was seen (another replica's flush); <0 never
		localSeen  time.Duration // when this replica saw it; <0 never
		polling    bool
		wantOnline bool
		wantLast   time.Duration
	}{
		{"seen by another replica recently", -10 * time.Second, -1, false, true, -10 * time.Second},
		{"seen by another replica too long ago", -time.Minute, -1, false, false, -time.Minute},
		{"seen here recently, stale in the store", -time.Minute, -5 * time.Second, false, true, -5 * time.Second},
		{"polling here", -time.Hour, -time.Hour, true, true, -time.Hour},
		{"never seen", -1, -1, false, false, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPresence(pollRefresh(10 * time.Second))
			at := func(d time.Duration) time.Time {
				if d == -1 {
					return time.Time{}
				}
				return t0.Add(d)
			}
			h := store.Host{ID: "h1", LastSeen: at(c.storeSeen)}
			if c.localSeen != -1 {
				p.seen("h1", at(c.localSeen))
			}
			if c.polling {
				defer p.polls("h1", at(c.localSeen))(t0)
			}
			online, last := p.online(h, t0, window)
			if online != c.wantOnline || !last.Equal(at(c.wantLast)) {
				t.Fatalf("online = %v, last seen %v; want %v, %v", online, last, c.wantOnline, at(c.wantLast))
			}
		})
	}
}

func TestALongPollIsASignOfLifeThatTheStoreHearsOfAtTheRefresh(t *testing.T) {
	t.Parallel()
	const interval = 10 * time.Second
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := newPresence(pollRefresh(interval))
	done := p.polls("h1", at(0))
	for _, c := range []struct {
		flush int  // seconds after t0
		want  bool // whether the batch carries h1, at the flush's time
	}{
		{0, true},   // the long-poll's start: never stored before
		{10, false}, // stored 10 s ago: not yet refresh (15 s) old
		{20, true},  // 20 s: refreshed while the long-poll waits
		{30, false},
		{40, true},
	} {
		batch := p.drainDirty(at(c.flush))
		seen, ok := batch["h1"]
		if ok != c.want || ok && !seen.At.Equal(at(c.flush)) {
			t.Fatalf("flush at +%ds carries %v (%v), want it: %v", c.flush, seen.At, ok, c.want)
		}
		if online, _ := p.online(store.Host{ID: "h1"}, at(c.flush), 3*interval); !online {
			t.Fatalf("a Host polling here is offline at +%ds", c.flush)
		}
	}
	done(at(45))
	if batch := p.drainDirty(at(100)); len(batch) != 0 {
		t.Fatalf("a Host no longer polling is written again: %v", batch)
	}
	for _, c := range []struct {
		at   int
		want bool
	}{{45 + 30, true}, {45 + 31, false}} {
		if online, _ := p.online(store.Host{ID: "h1"}, at(c.at), 3*interval); online != c.want {
			t.Errorf("at +%ds, %ds after its long-poll ended, online = %v, want %v", c.at, c.at-45, online, c.want)
		}
	}
}

func TestABatchTheStoreRefusedIsWrittenWithTheNextFlush(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	p := newPresence(pollRefresh(10 * time.Second))
	p.seen("h1", t0)
	p.setLatencies("h1", map[string]int64{"cs-1": 7})
	p.seen("h2", t0)
	failed := p.drainDirty(t0)
	p.seen("h1", t0.Add(time.Second)) // a heartbeat without latencies arrives meanwhile
	p.forget("h2")                    // and h2 is deleted
	p.requeue(failed)
	batch := p.drainDirty(t0.Add(2 * time.Second))
	if len(batch) != 1 || !batch["h1"].At.Equal(t0.Add(time.Second)) || batch["h1"].RelayLatencies["cs-1"] != 7 {
		t.Fatalf("the next flush carries %+v, want h1 at its latest heartbeat with its latencies, and no h2", batch)
	}
}

func TestAHeartbeatEqualToTheHostsLastIsASignOfLifeOnly(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	long := `{"relay_latencies_ms":{` + strings.Repeat(" ", maxKeptReport) + `}}`
	for _, c := range []struct {
		name      string
		reported  string // the body the Host reported before; "" for none
		forgotten bool   // the Host was disabled or deleted since
		body      string
		want      bool
	}{
		{name: "the same body", reported: `{"relay_latencies_ms":{"cs-1":7}}`, body: `{"relay_latencies_ms":{"cs-1":7}}`, want: true},
		{name: "a changed latency", reported: `{"relay_latencies_ms":{"cs-1":7}}`, body: `{"relay_latencies_ms":{"cs-1":8}}`},
		{name: "nothing reported yet", body: `{}`},
		{name: "an empty body", reported: `{}`, body: ``},
		{name: "a body too long to keep", reported: long, body: long},
		{name: "a forgotten Host", reported: `{}`, forgotten: true, body: `{}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPresence(pollRefresh(10 * time.Second))
			if c.reported != "" {
				p.reported("h1", t0, []byte(c.reported), map[string]int64{"cs-1": 7})
				p.drainDirty(t0)
			}
			if c.forgotten {
				p.forget("h1")
			}
			at := t0.Add(time.Second)
			if got := p.seenAgain("h1", at, []byte(c.body)); got != c.want {
				t.Fatalf("seenAgain = %v, want %v", got, c.want)
			}
			batch := p.drainDirty(at)
			if !c.want {
				if len(batch) != 0 {
					t.Fatalf("a heartbeat to be decoded was recorded before it was: %+v", batch)
				}
				return
			}
			if !batch["h1"].At.Equal(at) || batch["h1"].RelayLatencies != nil {
				t.Fatalf("the flush carries %+v, want h1 seen at %v and no latencies (unchanged, written before)", batch, at)
			}
			if lat := p.latencies(store.Host{ID: "h1"}); lat["cs-1"] != 7 {
				t.Fatalf("the Host's latencies are %v, want the ones it reported", lat)
			}
		})
	}
}
