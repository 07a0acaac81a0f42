package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

// testMailDeliveredOnce: every message is collected by exactly one of many collectors on two
// pools (two replicas), in the order posted.
func testMailDeliveredOnce(t *testing.T, dsn string) {
	ctx := context.Background()
	dbs := []*DB{openStore(t, dsn), openStore(t, dsn)}
	const posts = 120
	for i := range posts {
		m := Mail{Recipient: HostMailbox("h1"), Body: fmt.Appendf(nil, `{"n":%d}`, i), QueuedAt: at(time.Duration(i) * time.Millisecond), ExpiresAt: at(time.Hour)}
		if err := dbs[i%2].PostMail(ctx, m); err != nil {
			t.Fatalf("PostMail %d: %v", i, err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			mail, _, err := dbs[c%2].CollectMail(ctx, HostMailbox("h1"), at(time.Minute))
			if err != nil {
				t.Errorf("CollectMail: %v", err)
			}
			for i := 1; i < len(mail); i++ {
				if mail[i].QueuedAt.Before(mail[i-1].QueuedAt) {
					t.Errorf("collected out of order: %s before %s", mail[i-1].Body, mail[i].Body)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range mail {
				seen[string(m.Body)]++
			}
		})
	}
	wg.Wait()
	if len(seen) != posts {
		t.Fatalf("collected %d distinct messages, want %d", len(seen), posts)
	}
	for body, n := range seen {
		if n != 1 {
			t.Errorf("message %s collected %d times", body, n)
		}
	}
	if mail, _, err := dbs[0].CollectMail(ctx, HostMailbox("h1"), at(time.Minute)); err != nil || len(mail) != 0 {
		t.Fatalf("second collection: %d messages, %v; want none", len(mail), err)
	}
}

// testCollectPostedMail: CollectPostedMail, which skips the look for due mail, hands over
// what CollectMail would: the due messages once, then when the next one is due, and nothing
// from an empty or expired mailbox. Collect gives the same, and says the mailbox is drained
// exactly when no unexpired message is left in it (PostgreSQL; elsewhere it never says so).
func testCollectPostedMail(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	reports := db.d.kind == kindPostgres
	host := HostMailbox("h-posted")
	if c, err := db.Collect(ctx, host, at(0), true); err != nil || len(c.Mail) != 0 || !c.Next.IsZero() || c.Drained != reports {
		t.Fatalf("Collect of an empty mailbox = %v, next %v, drained %v, %v; want none, drained %v", bodies(c.Mail), c.Next, c.Drained, err, reports)
	}
	for _, m := range []struct {
		body             string
		deliver, expires time.Duration
	}{{`"now"`, 0, time.Minute}, {`"later"`, 10 * time.Second, time.Minute}, {`"stale"`, 0, 5 * time.Second}} {
		if err := db.PostMail(ctx, Mail{Recipient: host, Body: []byte(m.body), QueuedAt: at(0), DeliverAt: at(m.deliver), ExpiresAt: at(m.expires)}); err != nil {
			t.Fatalf("PostMail %s: %v", m.body, err)
		}
	}
	steps := []struct {
		at      time.Duration
		want    []string
		next    time.Duration // 0: none
		drained bool          // what PostgreSQL reports
	}{
		{6 * time.Second, []string{`"now"`}, 0, false}, // "later" waits
		{6 * time.Second, nil, 10 * time.Second, false},
		{10 * time.Second, []string{`"later"`}, 0, true}, // "stale" has expired
		{10 * time.Second, nil, 0, true},
	}
	for i, st := range steps {
		wantNext := time.Time{}
		if st.next != 0 {
			wantNext = at(st.next)
		}
		c, err := db.Collect(ctx, host, at(st.at), true)
		if err != nil || !slices.Equal(bodies(c.Mail), st.want) || !c.Next.Equal(wantNext) || c.Drained != (reports && st.drained) {
			t.Fatalf("step %d: Collect at %v = %v, next %v, drained %v, %v; want %v, next %v, drained %v", i, st.at, bodies(c.Mail), c.Next, c.Drained, err, st.want, wantNext, reports && st.drained)
		}
	}
	if mail, next, err := db.CollectPostedMail(ctx, host, at(10*time.Second)); err != nil || len(mail) != 0 || !next.IsZero() {
		t.Fatalf("CollectPostedMail of the drained mailbox = %v, next %v, %v; want none", bodies(mail), next, err)
	}
}

// testMailTiming: a message is not handed over before it is due nor after it expires; the
// sweep gets the expired ones; a full mailbox and bad messages are refused and change nothing.
func testMailTiming(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	relay := RelayMailbox("cs-1")
	post := func(body string, deliver, expires time.Duration) error {
		return db.PostMail(ctx, Mail{Recipient: relay, Body: []byte(body), QueuedAt: at(0), DeliverAt: at(deliver), ExpiresAt: at(expires)})
	}
	for _, m := range []struct {
		body             string
		deliver, expires time.Duration
	}{{`"now"`, 0, time.Minute}, {`"later"`, 10 * time.Second, time.Minute}, {`"stale"`, 0, 5 * time.Second}} {
		if err := post(m.body, m.deliver, m.expires); err != nil {
			t.Fatalf("PostMail %s: %v", m.body, err)
		}
	}
	for _, bad := range []Mail{
		{Body: []byte("x"), ExpiresAt: at(time.Minute)},
		{Recipient: relay, ExpiresAt: at(time.Minute)},
		{Recipient: relay, Body: []byte("x")},
		{Recipient: relay, Body: []byte("x"), ExpiresAt: at(time.Minute)},
		{Recipient: relay, Body: []byte("x"), QueuedAt: at(0), DeliverAt: at(time.Minute), ExpiresAt: at(time.Second)},
	} {
		if err := db.PostMail(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("PostMail(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	mail, next, err := db.CollectMail(ctx, relay, at(6*time.Second))
	if err != nil || len(mail) != 1 || string(mail[0].Body) != `"now"` || !next.IsZero() {
		t.Fatalf("CollectMail at 6s = %v, next %v, %v; want only \"now\" (and no look for the next)", bodies(mail), next, err)
	}
	if mail, next, err = db.CollectMail(ctx, relay, at(6*time.Second)); err != nil || len(mail) != 0 || !next.Equal(at(10*time.Second)) {
		t.Fatalf("CollectMail at 6s again = %v, next %v, %v; want none, next at 10s", bodies(mail), next, err)
	}
	expired, err := db.DiscardExpiredMail(ctx, at(6*time.Second), 10)
	if err != nil || len(expired) != 1 || string(expired[0].Body) != `"stale"` {
		t.Fatalf("DiscardExpiredMail = %v, %v; want the stale one", bodies(expired), err)
	}
	if mail, next, err = db.CollectMail(ctx, relay, at(10*time.Second)); err != nil || len(mail) != 1 || !next.IsZero() {
		t.Fatalf("CollectMail at 10s = %v, next %v, %v; want \"later\", nothing after", bodies(mail), next, err)
	}
	for i := range MaxMail {
		if err := post(fmt.Sprintf("%d", i), 0, time.Minute); err != nil {
			t.Fatalf("PostMail %d: %v", i, err)
		}
	}
	if err := post("one too many", 0, time.Minute); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("PostMail to a full mailbox = %v, want ErrMailboxFull", err)
	}
	if mail = collectAll(t, db, relay, at(time.Second)); len(mail) != MaxMail {
		t.Fatalf("collected %d, want the %d that fit", len(mail), MaxMail)
	}
	if got, err := db.MailRecipientsSince(ctx, at(0)); err != nil || len(got) != 0 {
		t.Fatalf("MailRecipientsSince after collection = %v, %v; want none", got, err)
	}
}

func bodies(mail []Mail) []string {
	out := make([]string, len(mail))
	for i, m := range mail {
		out[i] = string(m.Body)
	}
	return out
}

// TestListenMailHearsEveryReplicasPosts: on PostgreSQL a listener on one pool hears the
// recipient of a message posted through another, and is resynced when it connects.
func TestListenMailHearsEveryReplicasPosts(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listener, poster := openStore(t, dsn), openStore(t, dsn)
	woken := make(chan string, 16)
	resynced := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- listener.ListenMail(ctx, func(r string) { woken <- r }, func() { resynced <- struct{}{} })
	}()
	select {
	case <-resynced:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not connect")
	}
	now := time.Now()
	// The listener's own post is not announced to it (its poster wakes its waiters); the other
	// pool's, committed after it and so notified after it, is.
	if err := listener.PostMail(ctx, Mail{Recipient: HostMailbox("h8"), Body: []byte("{}"), QueuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := poster.PostMail(ctx, Mail{Recipient: HostMailbox("h9"), Body: []byte("{}"), QueuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woken:
		if r != HostMailbox("h9") {
			t.Fatalf("woken for %q, want %q (the listener's own post is not announced)", r, HostMailbox("h9"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for the posted message")
	}
	if _, err := poster.PostOrders(ctx, []Mail{{Recipient: RelayMailbox("cs-9"), Body: []byte("{}"), QueuedAt: now, ExpiresAt: now.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-woken:
		if r != RelayMailbox("cs-9") {
			t.Fatalf("woken for %q, want %q", r, RelayMailbox("cs-9"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for the posted orders")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenMail after cancel = %v, want nil", err)
	}
	sqlite := openStore(t, "sqlite:"+t.TempDir()+"/p.db")
	if err := sqlite.ListenMail(context.Background(), func(string) {}, func() {}); err == nil || sqlite.CanListen() {
		t.Fatal("ListenMail on SQLite did not refuse")
	}
}

// testAppendLogConflicts: two sequencers appending after the same tree size: one wins, the
// other gets ErrConflict and changes nothing; a record is never logged twice.
func testAppendLogConflicts(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	for i := range 3 {
		if err := db.InsertDecision(ctx, Decision{ID: fmt.Sprintf("d%d", i), Time: at(time.Duration(i)), Subject: "s", Reasons: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	step := func(from uint64, ids ...string) LogAppend {
		a := LogAppend{FromSize: from, Checkpoint: LogCheckpoint{Size: from + uint64(len(ids)), Root: []byte("r"), Note: "n", SignedAt: at(0)}}
		for i, id := range ids {
			a.Leaves = append(a.Leaves, LogLeaf{Index: from + uint64(i), DecisionID: id, Time: at(0), Hash: []byte("h")})
			a.Nodes = append(a.Nodes, LogNode{Level: 0, Index: from + uint64(i), Hash: []byte("h")})
		}
		return a
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ids := range [][]string{{"d0", "d1"}, {"d0"}} {
		wg.Go(func() { errs[i] = db.AppendLog(ctx, step(0, ids...)) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), ErrConflict) {
		t.Fatalf("two sequencers after size 0: %v, %v; want one to win and one ErrConflict", errs[0], errs[1])
	}
	cp, err := db.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendLog(ctx, step(cp.Size, "d0")); !errors.Is(err, ErrConflict) {
		t.Fatalf("logging d0 again = %v, want ErrConflict", err)
	}
	unlogged, err := db.UnloggedDecisions(ctx, 10)
	if err != nil || len(unlogged) != 3-int(cp.Size) {
		t.Fatalf("unlogged = %d, %v; want %d", len(unlogged), err, 3-cp.Size)
	}
}

// testOrdersAreNotBoundByTheMailbox: orders to end sessions all reach their recipient however
// many there are (MaxMail bounds requests, not orders), each once; a bad order refuses the
// whole batch and posts nothing.
func testOrdersAreNotBoundByTheMailbox(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	host, relay := HostMailbox("h1"), RelayMailbox("cs-1")
	orders := make([]Mail, 0, 3*MaxMail)
	for i := range 3 * MaxMail {
		to, due := host, at(0)
		if i%3 == 0 {
			to, due = relay, at(time.Second)
		}
		orders = append(orders, Mail{Recipient: to, Body: fmt.Appendf(nil, `{"n":%d}`, i), QueuedAt: at(0), DeliverAt: due, ExpiresAt: at(time.Minute)})
	}
	bad := append(slices.Clone(orders[:5]), Mail{Recipient: host, Body: []byte("{}"), QueuedAt: at(0)})
	if n, err := db.PostOrders(ctx, bad); !errors.Is(err, ErrInvalid) || n != 0 {
		t.Fatalf("PostOrders with an order that never expires = %v, want ErrInvalid", err)
	}
	if got, _ := db.MailRecipientsSince(ctx, at(0)); len(got) != 0 {
		t.Fatalf("a refused batch left mail for %v", got)
	}
	if n, err := db.PostOrders(ctx, orders); err != nil || n != len(orders) {
		t.Fatalf("PostOrders posted %d of %d: %v", n, len(orders), err)
	}
	if toHost := collectAll(t, db, host, at(0)); len(toHost) != 2*MaxMail {
		t.Fatalf("the host collected %d orders; want %d", len(toHost), 2*MaxMail)
	}
	toRelay, next, err := db.CollectMail(ctx, relay, at(0))
	if err != nil || len(toRelay) != 0 || !next.Equal(at(time.Second)) {
		t.Fatalf("the relay collected %d orders before they were due (next %v, %v)", len(toRelay), next, err)
	}
	if toRelay = collectAll(t, db, relay, at(time.Second)); len(toRelay) != MaxMail {
		t.Fatalf("the relay collected %d orders when due; want %d", len(toRelay), MaxMail)
	}
}

// A notification's payload is split into the posting DB's origin and the recipient; a payload
// without an origin (an earlier release's) is a recipient alone.
func TestSplitNotice(t *testing.T) {
	t.Parallel()
	const origin = "ABCDEFGHIJKLMN27"
	cases := []struct{ payload, origin, recipient string }{
		{origin + ":host:h_1", origin, "host:h_1"},
		{origin + ":relay:cs-eu-1", origin, "relay:cs-eu-1"},
		{"host:h_1", "", "host:h_1"},
		{"relay:cs:with:colons", "", "relay:cs:with:colons"},
		{"abcdefghijklmn27:host:h_1", "", "abcdefghijklmn27:host:h_1"}, // not the origin alphabet
		{origin + ":", "", origin + ":"},                               // no recipient
		{origin, "", origin},
		{"", "", ""},
	}
	for _, c := range cases {
		if o, r := splitNotice(c.payload); o != c.origin || r != c.recipient {
			t.Errorf("splitNotice(%q) = %q, %q; want %q, %q", c.payload, o, r, c.origin, c.recipient)
		}
	}
	db := &DB{origin: rand.Text()[:originLen]}
	if o, _ := splitNotice(db.origin + ":host:h_1"); o != db.origin {
		t.Errorf("a DB's origin %q is not recognized in a payload", db.origin)
	}
}
