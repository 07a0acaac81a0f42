package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testLocks: create, match by target, expire, remove once, audit trail kept.
func testLocks(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	locks := []Lock{
		{ID: "lk1", Kind: LockUser, Target: "bob@example.com", Reason: "offboarding", CreatedBy: "dave@example.com", CreatedAt: at(0)},
		{ID: "lk2", Kind: LockHost, Target: "db-1", Reason: "maintenance", CreatedBy: "dave@example.com", CreatedAt: at(time.Second), ExpiresAt: ptr(at(time.Hour))},
		{ID: "lk3", Kind: LockSession, Target: "ses_1", Reason: "suspicious", CreatedBy: "dave@example.com", CreatedAt: at(2 * time.Second)},
	}
	for _, l := range locks {
		if err := db.CreateLock(ctx, l); err != nil {
			t.Fatalf("CreateLock %s: %v", l.ID, err)
		}
	}
	bad := []Lock{
		{ID: "x", Kind: "planet", Target: "earth", Reason: "r", CreatedAt: at(0)},
		{ID: "x", Kind: LockUser, Target: "u", CreatedAt: at(0)},
		{Kind: LockUser, Target: "u", Reason: "r", CreatedAt: at(0)},
	}
	for _, l := range bad {
		if err := db.CreateLock(ctx, l); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateLock %+v: err = %v, want ErrInvalid", l, err)
		}
	}
	if err := db.CreateLock(ctx, locks[0]); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate lock: err = %v, want ErrConflict", err)
	}

	cases := []struct {
		name    string
		at      time.Time
		targets []LockTarget
		want    []string
	}{
		{"user and host", at(time.Minute), []LockTarget{{LockUser, "bob@example.com"}, {LockHost, "db-1"}}, []string{"lk1", "lk2"}},
		{"host lock expired", at(2 * time.Hour), []LockTarget{{LockHost, "db-1"}}, nil},
		{"other user", at(time.Minute), []LockTarget{{LockUser, "alice@example.com"}, {LockHost, "web-1"}}, nil},
		{"kind matters", at(time.Minute), []LockTarget{{LockHost, "bob@example.com"}}, nil},
		{"session", at(time.Minute), []LockTarget{{LockSession, "ses_1"}}, []string{"lk3"}},
		{"no targets", at(time.Minute), nil, nil},
	}
	enrollHosts(t, db)
	var together []*pendingLookup // the same reads, all at once (PostgreSQL)
	var togetherWant []func(*pendingLookup, error) bool
	for _, c := range cases {
		got, err := db.ActiveLocks(ctx, c.at, c.targets...)
		if err != nil {
			t.Fatalf("ActiveLocks %s: %v", c.name, err)
		}
		if ids := lockIDs(got); !slices.Equal(ids, c.want) {
			t.Errorf("ActiveLocks %s = %v, want %v", c.name, ids, c.want)
		}
		// A connect's read gives the same locks beside the Host, whether it exists or not.
		for _, name := range []string{"db-1", "kiosk-7", "no-such-host"} {
			want, err := db.GetHostByName(ctx, name)
			if err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			h, ls, err := db.HostAndLocks(ctx, name, c.at, c.targets...)
			if err != nil || !reflect.DeepEqual(h, want) || !reflect.DeepEqual(ls, got) {
				t.Errorf("HostAndLocks %s, %s = %+v, %v, %v; want %+v, %v", c.name, name, h, lockIDs(ls), err, want, c.want)
			}
			together = append(together, &pendingLookup{ctx: ctx, name: name, at: c.at, targets: c.targets, done: make(chan error, 1)})
			togetherWant = append(togetherWant, func(p *pendingLookup, err error) bool {
				return err == nil && reflect.DeepEqual(p.host, want) && reflect.DeepEqual(p.locks, got)
			})
		}
	}
	// Concurrent connects' reads share one statement on PostgreSQL: each gets what it would alone.
	if db.d.kind == kindPostgres {
		db.lookupBatch(ctx, slices.Clone(together))
		for i, p := range together {
			if err := <-p.done; !togetherWant[i](p, err) {
				t.Errorf("HostAndLocks %s in a batch at %v = %+v, %v, %v", p.name, p.at, p.host, lockIDs(p.locks), err)
			}
		}
	}

	removed, err := db.RemoveLock(ctx, "lk1", "dave@example.com", at(time.Minute))
	if err != nil {
		t.Fatalf("RemoveLock: %v", err)
	}
	if removed.RemovedBy != "dave@example.com" || removed.RemovedAt == nil || !removed.RemovedAt.Equal(at(time.Minute)) || removed.Reason != "offboarding" {
		t.Errorf("removed lock = %+v", removed)
	}
	if _, err := db.RemoveLock(ctx, "lk1", "dave@example.com", at(2*time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unlock: err = %v, want ErrNotFound", err)
	}
	if got, _ := db.ActiveLocks(ctx, at(2*time.Minute), LockTarget{LockUser, "bob@example.com"}); len(got) != 0 {
		t.Errorf("removed lock still active: %+v", got)
	}
	all, next, err := db.ListLocks(ctx, LockFilter{At: at(2 * time.Minute)})
	if err != nil || next != "" || !slices.Equal(lockIDs(all), []string{"lk3", "lk2", "lk1"}) {
		t.Errorf("ListLocks all = %v, %q, %v: the removed lock must stay for audit", lockIDs(all), next, err)
	}
	active, _, err := db.ListLocks(ctx, LockFilter{Active: true, At: at(2 * time.Minute)})
	if err != nil || !slices.Equal(lockIDs(active), []string{"lk3", "lk2"}) {
		t.Errorf("ListLocks active = %v, %v", lockIDs(active), err)
	}
	if _, _, err := db.ListLocks(ctx, LockFilter{After: "not-a-cursor"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ListLocks with a cursor it did not make: err = %v, want ErrInvalid", err)
	}
	if got, err := db.GetLock(ctx, "lk2"); err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(at(time.Hour)) {
		t.Errorf("GetLock = %+v, %v", got, err)
	}
}

// testSessionEndKeepsBytes: the CM ends a session first; the CS's later report adds its bytes
// but keeps the CM's time and reason, and so does the Host's (the lock is no generic reason).
// The Host's channel count is recorded.
func testSessionEndKeepsBytes(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	s := Session{ID: "s1", DecisionID: "d1", Subject: "bob@example.com", HostID: "h1", HostName: "web-1", RelayID: "cs-eu-1",
		Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"}, StartedAt: at(0)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, "s1", t0.Add(time.Minute), 0, 0, "locked: offboarding"); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, "s1", t0.Add(2*time.Minute), 300, 4000, "closed"); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordHostEnd(ctx, "s1", t0.Add(3*time.Minute), 2, "max_duration", "closed"); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordHostEnd(ctx, "nope", t0, 2, "", "closed"); !errors.Is(err, ErrNotFound) {
		t.Errorf("host end of unknown session: err = %v, want ErrNotFound", err)
	}
	got, err := db.GetSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if got.EndReason != "locked: offboarding" || !got.EndedAt.Equal(at(time.Minute)) || got.BytesUp != 300 || got.BytesDown != 4000 ||
		got.ChannelsOpened != 2 || got.HostName != "web-1" {
		t.Errorf("session = %+v", got)
	}
	relayed, _, err := db.ListSessions(ctx, SessionFilter{RelayID: "cs-eu-1"})
	if err != nil || len(relayed) != 1 {
		t.Errorf("ListSessions by relay = %v, %v", relayed, err)
	}
}

// listAllLocks follows ListLocks' cursor from the first page of f to the last and returns
// the ids it listed.
func listAllLocks(t *testing.T, db *DB, f LockFilter) []string {
	t.Helper()
	var ids []string
	for {
		page, next, err := db.ListLocks(context.Background(), f)
		if err != nil {
			t.Fatalf("ListLocks: %v", err)
		}
		ids = append(ids, lockIDs(page)...)
		if next == "" {
			return ids
		}
		f.After = next
	}
}

func lockIDs(ls []Lock) []string {
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	return ids
}

// testHostEndRefinesAGenericReason: the CS reports "closed" a moment before the Host reports
// "max_duration"; the record keeps the CS's time and bytes and the Host's reason.
func testHostEndRefinesAGenericReason(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	s := Session{ID: "s1", DecisionID: "d1", Subject: "alice@example.com", HostID: "h1", RelayID: "cs-eu-1", Channels: []string{"exec"}, StartedAt: at(0)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.EndSession(ctx, "s1", t0.Add(time.Minute), 10, 20, "closed"); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordHostEnd(ctx, "s1", t0.Add(2*time.Minute), 1, "max_duration", "closed", "error"); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSession(ctx, "s1")
	if err != nil || got.EndReason != "max_duration" || !got.EndedAt.Equal(at(time.Minute)) || got.BytesUp != 10 || got.ChannelsOpened != 1 {
		t.Errorf("session = %+v, %v", got, err)
	}
	live := Session{ID: "s2", DecisionID: "d2", Subject: "alice@example.com", HostID: "h1", RelayID: "cs-eu-1", Channels: []string{"exec"}, StartedAt: at(0)}
	if err := db.CreateSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordHostEnd(ctx, "s2", t0.Add(time.Hour), 3, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetSession(ctx, "s2"); got.EndedAt != nil || got.ChannelsOpened != 3 {
		t.Errorf("a Host report without a reason ended the session or lost its channels: %+v", got)
	}
}

// testEachActiveLock: more locks in force than any page holds, several made in the same
// instant across a page's edge, among removed and expired ones: every lock in force is read
// once, in order, and only those; the listing of locks in force holds them all.
func testEachActiveLock(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	now := at(time.Hour)
	var inForce []string
	sem := make(chan struct{}, 8)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for i := range 2*lockPageSize + 345 {
		l := Lock{ID: fmt.Sprintf("lk%05d", i), Kind: LockUser, Target: fmt.Sprintf("u%d@example.com", i), Reason: "r",
			CreatedAt: at(time.Duration(i/7) * time.Second)} // seven at a time: page edges fall among equal times
		switch i % 40 {
		case 1:
			l.ExpiresAt = ptr(at(time.Duration(i/7)*time.Second + time.Millisecond)) // expired before now
		case 2:
			l.Kind, l.Target = LockHost, fmt.Sprintf("db-%d", i) // removed below
		default:
			inForce = append(inForce, l.ID)
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			err := db.CreateLock(ctx, l)
			if err == nil && l.Kind == LockHost {
				_, err = db.RemoveLock(ctx, l.ID, "dave@example.com", now)
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	var read []string
	if err := db.EachActiveLock(ctx, now, func(l Lock) error { read = append(read, l.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(read, inForce) {
		t.Errorf("EachActiveLock read %d locks (first %v, last %v), want the %d in force, oldest first", len(read), read[:1], read[len(read)-1:], len(inForce))
	}
	listed := listAllLocks(t, db, LockFilter{Active: true, At: now, Limit: 333})
	newestFirst := slices.Clone(inForce)
	slices.Reverse(newestFirst)
	if !slices.Equal(listed, newestFirst) {
		t.Errorf("ListLocks in force, page by page = %d locks; want all %d, newest first, each once", len(listed), len(inForce))
	}
	if all := listAllLocks(t, db, LockFilter{At: now}); len(all) != 2*lockPageSize+345 || all[0] != "lk02344" || all[len(all)-1] != "lk00000" {
		t.Errorf("ListLocks all, page by page = %d locks; want all %d, newest first", len(all), 2*lockPageSize+345)
	}
	stop := errors.New("stop")
	n := 0
	if err := db.EachActiveLock(ctx, now, func(Lock) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachActiveLock went on after its callback failed: %d calls, err %v", n, err)
	}
}

// testALockIsSeenByEveryLaterRead: connects read their Host and locks on one replica while a
// lock is placed through another (on PostgreSQL the reads share statements): every read that
// began after the lock was committed finds it, and the Host beside it.
func testALockIsSeenByEveryLaterRead(t *testing.T, dsn string) {
	ctx := context.Background()
	db, other := openStore(t, dsn), openStore(t, dsn)
	hosts := enrollHosts(t, db)
	var placed atomic.Bool
	var seen atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := placed.Load()
				h, locks, err := db.HostAndLocks(ctx, "db-1", at(time.Minute), LockTarget{LockUser, "bob@example.com"}, LockTarget{LockHost, "db-1"})
				if err != nil || h.ID != hosts["db-1"].ID {
					t.Errorf("HostAndLocks = %+v, %v; want db-1", h, err)
					return
				}
				if after && len(locks) != 1 {
					t.Errorf("a read begun after the lock was placed found locks %v", lockIDs(locks))
					return
				}
				if after {
					seen.Add(1)
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := other.CreateLock(ctx, Lock{ID: "lk-now", Kind: LockHost, Target: "db-1", Reason: "incident", CreatedBy: "dave@example.com", CreatedAt: at(0)}); err != nil {
		t.Fatal(err)
	}
	placed.Store(true)
	for seen.Load() < 200 && !t.Failed() {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
