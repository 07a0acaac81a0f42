package ticket

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// openCache opens the persistent replay cache in dir at now and closes it when the test ends.
func openCache(t testing.TB, dir string, now time.Time) *ReplayCache {
	t.Helper()
	r, err := OpenReplayCache(dir, now)
	if err != nil {
		t.Fatalf("OpenReplayCache: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// crash stops r as a killed process stops: nothing is closed or flushed, but the OS releases
// the directory's lock, so that the next process may open the log.
func crash(r *ReplayCache) {
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	_ = r.log.lock.Close()
	r.log.lock = nil
}

// segments lists the segment files in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, segmentPrefix+"*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestAUsedTicketStaysUsedAcrossARestart(t *testing.T) {
	exp := testNow.Add(time.Minute)
	cases := []struct {
		name string
		// stop ends the first process: a clean Close, or a crash that closes nothing.
		stop func(*ReplayCache)
		// damage, if set, changes the log between the two processes.
		damage func(t *testing.T, dir string)
	}{
		{"after a clean stop", func(r *ReplayCache) { _ = r.Close() }, nil},
		{"after a crash right after the ticket was accepted", crash, nil},
		{"after a crash that tore a record in the middle of its write", crash, func(t *testing.T, dir string) {
			appendTo(t, segments(t, dir)[0], encodeRecord(keyOf("never-acknowledged"), exp)[:recordLen/2])
		}},
		{"after a power cut left garbage after the last synced record", crash, func(t *testing.T, dir string) {
			appendTo(t, segments(t, dir)[0], make([]byte, 3*recordLen))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := openCache(t, dir, testNow)
			for _, id := range []string{"t-used", "t-other"} {
				if err := first.Use(id, exp, testNow); err != nil {
					t.Fatalf("first use of %s: %v", id, err)
				}
			}
			tc.stop(first)
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			later := testNow.Add(10 * time.Second)
			second := openCache(t, dir, later)
			for _, id := range []string{"t-used", "t-other"} {
				if err := second.Use(id, exp, later); !errors.Is(err, access.ErrReplayed) {
					t.Fatalf("%s presented again after the restart: %v, want replayed", id, err)
				}
			}
			// The log goes on after the damage: a new id is recorded and survives a third start.
			if err := second.Use("t-new", exp, later); err != nil {
				t.Fatalf("a new id after the restart: %v", err)
			}
			crash(second)
			third := openCache(t, dir, later)
			if err := third.Use("t-new", exp, later); !errors.Is(err, access.ErrReplayed) {
				t.Fatalf("the id recorded after the damage: %v, want replayed", err)
			}
			for _, seg := range segments(t, dir) {
				if fi, err := os.Stat(seg); err != nil || fi.Size()%int64(recordLen) != 0 {
					t.Fatalf("segment %s: %v, size not a whole number of records", seg, err)
				}
			}
		})
	}
}

func appendTo(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestTheReplayLogForgetsExpiredIdsAndStaysSmall(t *testing.T) {
	dir := t.TempDir()
	r := openCache(t, dir, testNow)
	// A quarter of an hour of tickets, two a second of clock, each valid for MaxLifetime plus
	// the skew (each Use syncs the disk, so the test keeps their number small).
	const perSecond = 2
	var most int
	for s := range 900 {
		now := testNow.Add(time.Duration(s) * time.Second)
		for i := range perSecond {
			if err := r.Use(fmt.Sprintf("t-%d-%d", s, i), now.Add(MaxLifetime+DefaultSkew), now); err != nil {
				t.Fatalf("Use at %s: %v", now, err)
			}
		}
		most = max(most, len(segments(t, dir)))
	}
	// At most the segments of the minutes an unexpired id can end in, and a new one.
	if most > 3 {
		t.Fatalf("the log held %d segments at once, want at most 3", most)
	}
	if n := r.Len(); n > perSecond*int(MaxLifetime/time.Second+DefaultSkew/time.Second+1) {
		t.Fatalf("the cache remembers %d ids, more than the unexpired ones", n)
	}
	// A process that starts while they are unexpired deletes them in their turn.
	restart := testNow.Add(900 * time.Second)
	crash(r)
	next := openCache(t, dir, restart)
	if next.Len() == 0 || len(segments(t, dir)) == 0 {
		t.Fatalf("the restarted cache remembers %d ids, segments %v", next.Len(), segments(t, dir))
	}
	later := restart.Add(3 * time.Minute)
	if err := next.Use("t-later", later.Add(MaxLifetime), later); err != nil {
		t.Fatal(err)
	}
	if segs := segments(t, dir); len(segs) != 1 {
		t.Fatalf("segments %v after every earlier id expired, want only the new one", segs)
	}
	_ = next.Close()
	// A process that starts after every id expired deletes what is left and remembers nothing.
	end := testNow.Add(2 * time.Hour)
	again := openCache(t, dir, end)
	if again.Len() != 0 || len(segments(t, dir)) != 0 {
		t.Fatalf("after every expiry: %d ids remembered, segments %v", again.Len(), segments(t, dir))
	}
}

func TestAReplayLogThatCannotBeWrittenRefusesTheTicket(t *testing.T) {
	dir := t.TempDir()
	r := openCache(t, dir, testNow)
	exp := testNow.Add(time.Minute)
	if err := r.Use("t-1", exp, testNow); err != nil {
		t.Fatal(err)
	}
	// The disk fails under the open segment (here: its descriptor is gone).
	minute := minuteOf(exp)
	_ = r.log.files[minute].Close()
	err := r.Use("t-2", exp, testNow)
	if !errors.Is(err, access.ErrUnavailable) {
		t.Fatalf("Use with a failing log: %v, want unavailable (fail closed)", err)
	}
	// Refused, not remembered: once the disk is back the same ticket is accepted, once.
	delete(r.log.files, minute)
	if err := r.Use("t-2", exp, testNow); err != nil {
		t.Fatalf("Use after the disk came back: %v", err)
	}
	if err := r.Use("t-2", exp, testNow); !errors.Is(err, access.ErrReplayed) {
		t.Fatalf("second use: %v, want replayed", err)
	}
	// A closed cache refuses too.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Use("t-3", exp, testNow); !errors.Is(err, access.ErrUnavailable) {
		t.Fatalf("Use after Close: %v, want unavailable", err)
	}
}

func TestConcurrentUsesAreEachRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	r := openCache(t, dir, testNow)
	const workers, each = 16, 50
	exp := testNow.Add(time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("t-%d", (w*each+i)/2) // every id twice, from two workers
				if err := r.Use(id, exp, testNow); err != nil && !errors.Is(err, access.ErrReplayed) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if r.Len() != workers*each/2 {
		t.Fatalf("%d ids remembered, want %d", r.Len(), workers*each/2)
	}
	crash(r)
	again := openCache(t, dir, testNow)
	if again.Len() != workers*each/2 {
		t.Fatalf("after a restart %d ids remembered, want %d", again.Len(), workers*each/2)
	}
}

func TestAVerifierThatBeganToRememberLateRefusesOlderTickets(t *testing.T) {
	started := testNow
	cases := []struct {
		name      string
		validFrom time.Time
		want      error
	}{
		{"valid long before the start", started.Add(-50 * time.Second), access.ErrReplayed},
		{"valid within the skew of the start", started.Add(DefaultSkew), access.ErrReplayed},
		{"valid after the start and its skew", started.Add(DefaultSkew + time.Second), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := testVerifier(keySetOf(testKey(1)), tc.validFrom.Add(time.Second))
			v.Replay.KnownSince = started
			c := testClaims()
			c.IssuedAt, c.NotBefore, c.Expiry = tc.validFrom, tc.validFrom, tc.validFrom.Add(30*time.Second)
			_, err := v.Verify(mint(t, testSigner(testKey(1)), c), access.RoleGuest)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkReplayCacheUse(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(b *testing.B) *ReplayCache
	}{
		{"memory", func(*testing.B) *ReplayCache { return &ReplayCache{} }},
		{"log", func(b *testing.B) *ReplayCache { return openCache(b, b.TempDir(), time.Now()) }},
	} {
		for _, parallel := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/parallel=%v", bc.name, parallel), func(b *testing.B) {
				r := bc.open(b)
				exp := time.Now().Add(time.Minute)
				var n sync.Mutex
				next := 0
				id := func() string {
					n.Lock()
					defer n.Unlock()
					next++
					return fmt.Sprint("t-", next)
				}
				use := func() {
					if err := r.Use(id(), exp, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				if !parallel {
					for b.Loop() {
						use()
					}
					return
				}
				b.SetParallelism(16) // the CS verifies the halves of many connections at once
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						use()
					}
				})
			})
		}
	}
}

func FuzzReplaySegment(f *testing.F) {
	f.Add(encodeRecord(keyOf("t-1"), testNow.Add(time.Minute)))
	f.Add(append(encodeRecord(keyOf("t-1"), testNow.Add(time.Minute)), 1, 2, 3))
	f.Add(make([]byte, 2*recordLen))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentPrefix+fmt.Sprint(minuteOf(testNow)+1)+segmentSuffix)
		if err := os.WriteFile(path, data, logFileMode); err != nil {
			t.Fatal(err)
		}
		r, err := OpenReplayCache(dir, testNow)
		if err != nil {
			t.Fatalf("OpenReplayCache of a %d-byte segment: %v", len(data), err)
		}
		defer r.Close()
		want := 0
		for rec := range decodeRecords(data) {
			if rec.exp.After(testNow) {
				want++
			}
		}
		if r.Len() > want {
			t.Fatalf("remembers %d ids, the segment holds %d valid unexpired records", r.Len(), want)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size()%int64(recordLen) != 0 || fi.Size() > int64(len(data)) {
			t.Fatalf("segment after open: %v, %d bytes of %d", err, fi.Size(), len(data))
		}
	})
}
