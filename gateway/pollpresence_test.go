package gateway_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/internal/pgtest"
)

// presenceInterval is the heartbeat interval of the presence tests: a Host is online for three
// of them after its last sign of life, and each replica flushes presence once per interval.
const presenceInterval = time.Second

// fastPresence has the CM flush presence every presenceInterval, hold long-polls for poll,
// and keep relays fresh while the test moves the clock.
func fastPresence(poll time.Duration) cmOption {
	return withConfig(func(c *gateway.Config) {
		c.HeartbeatInterval, c.LongPoll, c.RelayStale = presenceInterval, poll, time.Hour
	})
}

// runCM runs c's background work (presence flushes among it) until the test ends.
func runCM(t *testing.T, c *cm) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.gateway.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// hostOnline is whether c lists the Host named name as online, by dave's host list.
func hostOnline(t *testing.T, c *cm, name string) bool {
	t.Helper()
	var hosts []api.HostInfo
	if err := c.call(c.login(t, "dave@example.com", ""), http.MethodGet, api.PathHosts, nil, &hosts); err != nil {
		t.Fatalf("list hosts: %v", err)
	}
	for _, h := range hosts {
		if h.Name == name {
			return h.Online
		}
	}
	t.Fatalf("no host %s listed", name)
	return false
}

func TestAHostThatOnlyLongPollsIsAliveAndGoesOfflineThreeIntervalsAfterItsLastPoll(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
		"postgres": func(t *testing.T) string { runsInFullInTheUnitPass(t, "the PostgreSQL half"); return pgtest.Start(t) },
	} {
		t.Run(name, func(t *testing.T) { testLongPollPresence(t, dsn(t)) })
	}
}

func testLongPollPresence(t *testing.T, dsn string) {
	c := startCM(t, withStore(dsn), fastPresence(2*time.Second))
	runCM(t, c)
	host := c.enroll(t, "idle-1", map[string]string{"env": "staging"}, "acme")
	c.later.Add(int64(time.Minute))
	if hostOnline(t, c, "idle-1") {
		t.Fatal("a Host that neither heartbeated nor polled since it enrolled a minute ago is online")
	}
	polled := pollVia(t, host, c.url)
	waitFor(t, crossReplicaDeadline, "the long-poll to wait", func() bool { return longPolls(t, c) == 1 })
	c.later.Add(int64(time.Minute)) // far beyond three intervals, while the long-poll waits
	if !hostOnline(t, c, "idle-1") {
		t.Fatal("a Host whose long-poll waits here is offline")
	}
	now := c.now.Add(time.Duration(c.later.Load()))
	waitFor(t, crossReplicaDeadline, "the flush to write the long-poll as a sign of life", func() bool {
		h, err := c.store.GetHostByName(context.Background(), "idle-1")
		return err == nil && !h.LastSeen.Before(now)
	})
	await(t, polled, "the long-poll's empty answer")
	c.later.Add(int64(3 * presenceInterval))
	if !hostOnline(t, c, "idle-1") {
		t.Fatal("the Host is offline within three intervals of its last long-poll")
	}
	c.later.Add(int64(presenceInterval))
	if hostOnline(t, c, "idle-1") {
		t.Fatal("a Host that stopped polling and never heartbeats is online more than three intervals after its last long-poll")
	}
}

func TestAHostThatOnlyLongPollsOneReplicaStaysOnlineAtAnother(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	w := startWorld(t, withStore(dsn), named("cm-a"), fastPresence(gateway.MaxLongPoll))
	b := startCM(t, replicaOf(w.cm), withStore(dsn), named("cm-b"), fastPresence(gateway.MaxLongPoll))
	runCM(t, w.cm)
	runCM(t, b)
	alice := w.login(t, "alice@example.com", "123456")
	host := w.hosts["db-1"] // it heartbeated A once, at the start, and never again
	step := func(d time.Duration) {
		w.later.Add(int64(d))
		b.later.Add(int64(d))
	}
	step(10 * presenceInterval)
	if hostOnline(t, w.cm, "db-1") {
		t.Fatal("A lists db-1 online ten intervals after its only heartbeat")
	}

	polled := pollVia(t, host, b.url)
	waitFor(t, crossReplicaDeadline, "the Host's long-poll to wait at B", func() bool { return longPolls(t, b) == 1 })
	waitFor(t, crossReplicaDeadline, "A to see db-1 online through B's flush", func() bool { return hostOnline(t, w.cm, "db-1") })
	step(10 * presenceInterval) // the same long-poll still waits at B: B writes it again
	waitFor(t, crossReplicaDeadline, "A to see db-1 still online while it polls B", func() bool { return hostOnline(t, w.cm, "db-1") })

	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatalf("connect through A to the Host long-polling B: %v", err)
	}
	reqs := awaitRequests(t, polled, host, b.url, "the connection request at B")
	if len(reqs) != 1 || reqs[0].SessionID != resp.SessionID {
		t.Fatalf("the Host polling B got %+v, want the request of %s", reqs, resp.SessionID)
	}
}
