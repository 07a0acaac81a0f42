package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/store"
)

// crossReplicaDeadline bounds a message's way from one replica to an agent polling another; it
// guards against hanging. The time taken is logged; the speed target is the bench's.
const crossReplicaDeadline = 10 * time.Second

// pollVia starts one long-poll of the Host at the CM at url and returns its answer's channel.
func pollVia(t *testing.T, h hostAgent, url string) <-chan []api.HostRequest {
	t.Helper()
	out := make(chan []api.HostRequest, 1)
	go func() {
		var reqs api.HostRequests
		if err := api.Call(context.Background(), h.client, http.MethodGet, url+api.PathHostRequests, "", nil, &reqs); err != nil {
			t.Errorf("long-poll at %s: %v", url, err)
		}
		out <- reqs.Requests
	}()
	return out
}

// await waits for a long-poll's answer.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(crossReplicaDeadline):
		t.Fatalf("%s: nothing within %v", what, crossReplicaDeadline)
		panic("unreachable")
	}
}

// awaitRequests waits for the answer of the long-poll polled at url and, while the answers are
// empty (the poll's window ended first: a loaded machine), polls again as a Host does, until
// crossReplicaDeadline.
func awaitRequests(t *testing.T, polled <-chan []api.HostRequest, h hostAgent, url, what string) []api.HostRequest {
	t.Helper()
	deadline := time.Now().Add(crossReplicaDeadline)
	for {
		reqs := await(t, polled, what)
		if len(reqs) > 0 || time.Now().After(deadline) {
			return reqs
		}
		polled = pollVia(t, h, url)
	}
}

// startTwoReplicas starts a world whose CM (A) shares a fresh PostgreSQL database with a second
// replica (B), both doing their background work until the test ends.
func startTwoReplicas(t *testing.T) (*world, *cm) {
	t.Helper()
	dsn := pgtest.Start(t)
	w := startWorld(t, withStore(dsn), named("cm-a"))
	b := startCM(t, replicaOf(w.cm), withStore(dsn), named("cm-b"))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, c := range []*cm{w.cm, b} {
		go func() { _ = c.gateway.Run(ctx) }()
	}
	return w, b
}

func TestAConnectDecidedOnOneReplicaReachesTheHostPollingAnother(t *testing.T) {
	t.Parallel()
	w, b := startTwoReplicas(t)
	alice, dave := w.login(t, "alice@example.com", "123456"), w.login(t, "dave@example.com", "")
	relay := w.relayClient(t, "cs-eu-1")
	host := w.hosts["db-1"]

	polled := pollVia(t, host, b.url)
	waitFor(t, crossReplicaDeadline, "the Host's long-poll to wait at B", func() bool { return longPolls(t, b) == 1 })
	start := time.Now()
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatalf("connect through A: %v", err)
	}
	reqs := awaitRequests(t, polled, host, b.url, "the connection request at B")
	t.Logf("connect through A reached the Host polling B %v after the request was sent", time.Since(start))
	if len(reqs) != 1 || reqs[0].SessionID != resp.SessionID || reqs[0].Kill || reqs[0].Ticket == "" {
		t.Fatalf("the Host polling B got %+v, want the request of %s", reqs, resp.SessionID)
	}

	polled = pollVia(t, host, b.url)
	waitFor(t, crossReplicaDeadline, "the Host's long-poll to wait at B", func() bool { return longPolls(t, b) == 1 })
	start = time.Now()
	l := w.lock(t, dave, api.LockRequest{Session: resp.SessionID, Reason: "incident"})
	if !slices.Equal(l.EndedSessions, []string{resp.SessionID}) {
		t.Fatalf("lock through A ended %v", l.EndedSessions)
	}
	kills := awaitRequests(t, polled, host, b.url, "the order at B")
	t.Logf("a lock through A reached the Host polling B in %v", time.Since(start))
	if len(kills) != 1 || !kills[0].Kill || kills[0].SessionID != resp.SessionID || kills[0].Reason != "locked: incident" {
		t.Fatalf("the Host polling B was told %+v", kills)
	}
	if cmds := b.relayCommands(t, relay, "cs-eu-1"); len(cmds) != 1 || cmds[0].SessionID != resp.SessionID {
		t.Fatalf("the relay polling B was told %+v, want the end of %s once", cmds, resp.SessionID)
	}
	for _, c := range []*cm{w.cm, b} {
		if more := await(t, pollVia(t, host, c.url), "an empty long-poll"); len(more) != 0 {
			t.Errorf("the order was delivered again at %s: %+v", c.url, more)
		}
	}
}

// A Host that comes back from the long-poll that handed it its request finds its mailbox
// known to be empty (PostgreSQL said so as it took the request) and waits without a look; the
// next request still reaches it, whichever replica decided it. Any wake-up for the mailbox
// undoes the mark, and the table's safety-net poll may see a request before it is taken and
// wake it once more, so the test counts skips over several requests, not each one.
func TestAHostBackFromItsRequestWaitsWithoutALookAndStillGetsTheNext(t *testing.T) {
	t.Parallel()
	w, b := startTwoReplicas(t)
	alice := w.login(t, "alice@example.com", "123456")
	host := w.hosts["db-1"]
	polled := pollVia(t, host, b.url)
	vias := []*cm{w.cm, w.cm, w.cm, w.cm, b, b}
	for i, via := range vias {
		waitFor(t, crossReplicaDeadline, "the Host's long-poll to wait at B", func() bool { return longPolls(t, b) == 1 })
		if i == 4 && looksSkipped(t, b) < 2 {
			t.Fatalf("B skipped %d looks; the Host's long-polls after its requests from A should have waited without one", looksSkipped(t, b))
		}
		resp, _, err := via.connect(alice, "db-1", "exec")
		if err != nil {
			t.Fatalf("connect %d through %s: %v", i, via.url, err)
		}
		reqs := awaitRequests(t, polled, host, b.url, "the connection request at B")
		if len(reqs) != 1 || reqs[0].SessionID != resp.SessionID {
			t.Fatalf("request %d: the Host polling B got %+v, want the request of %s", i, reqs, resp.SessionID)
		}
		if i < len(vias)-1 {
			polled = pollVia(t, host, b.url) // as the Host comes back
		}
	}
	if n := looksSkipped(t, w.cm); n != 0 {
		t.Errorf("A, where the Host never polled, skipped %d looks", n)
	}
}

// A Host heartbeating at B, which then trusts its certificate's serial for HostAuthTTL (its
// clock stands still, so that trust never lapses here), renews the certificate at A: its next
// request with the new certificate is accepted at B at once, not refused as a replaced one
// (which would make the agent stop and cut its sessions). The old certificate is refused at both.
func TestAHostRenewedAtOneReplicaIsAcceptedAtOnceByAnotherThatTrustedItsOldCertificate(t *testing.T) {
	t.Parallel()
	w, b := startTwoReplicas(t)
	old := w.hosts["web-1"]
	if err := heartbeat(old, b.url); err != nil {
		t.Fatalf("heartbeat at B with the enrolment certificate: %v", err)
	}
	renewed, _ := renewAt(t, w.cm, old)
	if err := heartbeat(renewed, b.url); err != nil {
		t.Fatalf("heartbeat at B with the certificate renewed at A: %v", err)
	}
	if err := heartbeat(renewed, w.url); err != nil {
		t.Fatalf("heartbeat at A with the certificate renewed there: %v", err)
	}
	for _, c := range []*cm{w.cm, b} {
		if status, body := statusOf(heartbeat(freshConnections(old), c.url)); status != http.StatusUnauthorized || body.Reason != access.ErrCredentialMismatch {
			t.Errorf("heartbeat at %s with the replaced certificate: %d %+v, want 401 %s", c.url, status, body, access.ErrCredentialMismatch)
		}
	}
}

// looksSkipped returns the CM's portcullis_cm_mail_looks_skipped_total metric.
func looksSkipped(t *testing.T, c *cm) int {
	t.Helper()
	const name = "portcullis_cm_mail_looks_skipped_total "
	n, err := strconv.Atoi(strings.TrimPrefix(metricLine(t, c, name), name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}

func TestARequestTheHostNeverCollectsExpiresAndEndsTheSessionForThatReason(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	alice := w.login(t, "alice@example.com", "123456")
	relay := w.relayClient(t, "cs-eu-1")
	resp, _, err := w.connect(alice, "db-1", "exec")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.gateway.Run(ctx) }()
	w.later.Add(int64(time.Minute)) // the Host never polled
	// The sweep records the end, then posts the orders: wait for the relay's too, or the
	// relay could be asked before its order exists.
	waitFor(t, crossReplicaDeadline, "the expired request to end its session and order its relay", func() bool {
		rec, err := w.store.GetSession(context.Background(), resp.SessionID)
		boxes, rerr := w.store.MailRecipientsSince(context.Background(), time.Unix(0, 0))
		return err == nil && rerr == nil && rec.EndedAt != nil && slices.Contains(boxes, store.RelayMailbox("cs-eu-1"))
	})
	rec, _ := w.store.GetSession(context.Background(), resp.SessionID)
	if rec.EndReason != string(access.ErrHostNotAnswering) {
		t.Fatalf("session ended with %q, want %q", rec.EndReason, access.ErrHostNotAnswering)
	}
	cmds := w.relayCommands(t, relay, "cs-eu-1")
	if len(cmds) != 1 || cmds[0].SessionID != resp.SessionID || cmds[0].Reason != string(access.ErrHostNotAnswering) {
		t.Fatalf("the relay holding the waiting Guest was told %+v, want it to end %s because the Host is not answering", cmds, resp.SessionID)
	}
	reqs := w.hostRequests(t, "db-1")
	if slices.ContainsFunc(reqs, func(r api.HostRequest) bool { return !r.Kill }) {
		t.Fatalf("the expired request was still delivered: %+v", reqs)
	}
}

// longPolls returns the CM's portcullis_cm_long_polls metric.
func longPolls(t *testing.T, c *cm) int {
	t.Helper()
	line := metricLine(t, c, "portcullis_cm_long_polls ")
	n, err := strconv.Atoi(strings.TrimPrefix(line, "portcullis_cm_long_polls "))
	if err != nil {
		t.Fatalf("long-poll metric %q: %v", line, err)
	}
	return n
}
