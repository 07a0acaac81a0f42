package gateway_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/internal/pgtest"
)

func TestAHostThatOnlyHeartbeatsOneReplicaGoesOfflineAtAnotherThreeIntervalsAfterItsLastBeat(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Start(t)
	w := startWorld(t, withStore(dsn), named("cm-a"), fastPresence(gateway.MaxLongPoll))
	b := startCM(t, replicaOf(w.cm), withStore(dsn), named("cm-b"), fastPresence(gateway.MaxLongPoll))
	runCM(t, w.cm)
	runCM(t, b)
	step := func(d time.Duration) {
		w.later.Add(int64(d))
		b.later.Add(int64(d))
	}
	step(10 * presenceInterval)
	if hostOnline(t, b, "db-1") {
		t.Fatal("B lists db-1 online ten intervals after its only heartbeat")
	}
	if err := heartbeat(w.hosts["db-1"], w.url); err != nil { // to A only; it never polls
		t.Fatal(err)
	}
	waitFor(t, crossReplicaDeadline, "B to see db-1 online through A's presence flush", func() bool { return hostOnline(t, b, "db-1") })
	step(3 * presenceInterval)
	if !hostOnline(t, b, "db-1") {
		t.Fatal("B lists db-1 offline within three intervals of its heartbeat at A")
	}
	step(presenceInterval / 10)
	if hostOnline(t, b, "db-1") {
		t.Fatal("B lists db-1 online more than three intervals after its last heartbeat at A")
	}
	if hostOnline(t, w.cm, "db-1") {
		t.Fatal("A lists db-1 online more than three intervals after its last heartbeat")
	}
}

func TestAReplicaThatStopsWritesThePresenceItHasNotFlushedYet(t *testing.T) {
	t.Parallel()
	// The flush interval is long: only the flush on the way out can write the heartbeat.
	c := startCM(t, withStore("sqlite:"+filepath.Join(t.TempDir(), "p.db")), withConfig(func(c *gateway.Config) {
		c.HeartbeatInterval = time.Hour
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.gateway.Run(ctx) }()
	host := c.enroll(t, "quiet-1", map[string]string{"env": "staging"}, "acme")
	c.later.Add(int64(time.Minute))
	beat := c.now.Add(time.Minute)
	if err := heartbeat(host, c.url); err != nil {
		t.Fatal(err)
	}
	h, err := c.store.GetHostByName(context.Background(), "quiet-1")
	if err != nil {
		t.Fatal(err)
	}
	if !h.LastSeen.Before(beat) {
		t.Fatalf("the store has the heartbeat (%v) before any flush: the test shows nothing", h.LastSeen)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(crossReplicaDeadline):
		t.Fatal("Run did not return after its context ended")
	}
	h, err = c.store.GetHostByName(context.Background(), "quiet-1")
	if err != nil {
		t.Fatal(err)
	}
	if !h.LastSeen.Equal(beat) {
		t.Fatalf("after the replica stopped, the store has quiet-1 last seen %v, want its heartbeat at %v", h.LastSeen, beat)
	}
}

func TestAHeartbeatIsCheckedWhateverTheHostSentBefore(t *testing.T) {
	t.Parallel()
	c := startCM(t, withStore("sqlite:"+filepath.Join(t.TempDir(), "p.db")))
	host := c.enroll(t, "beat-1", map[string]string{"env": "staging"}, "acme")
	valid := `{"relay_latencies_ms":{"cs-1":7}}`
	for _, s := range []struct {
		body string
		want int
	}{
		{valid, http.StatusOK},
		{valid, http.StatusOK}, // the same again: a sign of life only
		{`{"relay_latencies_ms":{"cs-1":7},"host_id":"h_other"}`, http.StatusBadRequest},
		{`{"relay_latencies_ms":{"cs-1":"7"}}`, http.StatusBadRequest},
		{``, http.StatusBadRequest},
		{valid, http.StatusOK},
	} {
		resp, err := host.client.Post(c.url+api.PathHeartbeat, "application/json", strings.NewReader(s.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != s.want {
			t.Errorf("heartbeat %q answered %d, want %d", s.body, resp.StatusCode, s.want)
		}
	}
}
