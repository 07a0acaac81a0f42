package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// testCollectionsTogether: a batch of collections that runs together (on SQLite in the
// connects' shared transaction, on PostgreSQL in shared statements) hands each caller what
// its collection alone would have: its recipient's due messages at its own time, or when the
// next is due; a recipient named twice gets the rest on its second collection; a collection
// whose caller went away first takes nothing.
func testCollectionsTogether(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	reports := db.d.kind == kindPostgres
	for _, m := range []struct {
		box, body                string
		deliver, expires, queued time.Duration
	}{
		{"a", `"a1"`, 0, time.Minute, 0},
		{"a", `"a2"`, 0, time.Minute, time.Millisecond},
		{"a", `"a3"`, 10 * time.Second, time.Minute, 2 * time.Millisecond},
		{"c", `"c1"`, 5 * time.Second, time.Minute, 0},
		{"d", `"d1"`, 0, time.Second, 0},
		{"e", `"e1"`, 3 * time.Second, time.Minute, 0},
		{"f", `"f1"`, 3 * time.Second, time.Minute, 0},
		{"g", `"g1"`, 0, time.Minute, 0},
	} {
		mail := Mail{Recipient: HostMailbox(m.box), Body: []byte(m.body), QueuedAt: at(m.queued), DeliverAt: at(m.deliver), ExpiresAt: at(m.expires)}
		if err := db.PostMail(ctx, mail); err != nil {
			t.Fatalf("PostMail %s: %v", m.body, err)
		}
	}
	cases := []struct {
		box     string
		at      time.Duration
		want    []string
		next    time.Duration // 0: none
		drained bool          // what PostgreSQL reports
	}{
		{"f", 2 * time.Second, nil, 3 * time.Second, false}, // f1 is not due at f's time
		{"a", 2 * time.Second, []string{`"a1"`, `"a2"`}, 0, false},
		{"b", 2 * time.Second, nil, 0, true}, // never had mail
		{"c", 2 * time.Second, nil, 5 * time.Second, false},
		{"d", 2 * time.Second, nil, 0, true}, // d1 has expired
		{"e", 3 * time.Second, []string{`"e1"`}, 0, true},
		{"a", 2 * time.Second, nil, 10 * time.Second, false}, // after the first took a1 and a2
	}
	batch := make([]*pendingCollect, 0, len(cases)+1)
	for _, c := range cases {
		batch = append(batch, &pendingCollect{ctx: ctx, recipient: HostMailbox(c.box), now: at(c.at), at: db.d.timeArg(at(c.at)), done: make(chan error, 1)})
	}
	gone := &pendingCollect{ctx: ctx, recipient: HostMailbox("g"), now: at(time.Second), at: db.d.timeArg(at(time.Second)), done: make(chan error, 1)}
	gone.state.Store(collectAbandoned)
	batch = slices.Insert(batch, 3, gone)
	collectTogether(ctx, db, slices.Clone(batch)) // the store edits the batch it is given
	for _, c := range cases {
		p := batch[slices.IndexFunc(batch, func(p *pendingCollect) bool { return p.recipient == HostMailbox(c.box) })]
		if c.box == "a" && c.want == nil {
			p = batch[len(batch)-1]
		}
		wantNext := time.Time{}
		if c.next != 0 {
			wantNext = at(c.next)
		}
		if err := <-p.done; err != nil || !slices.Equal(bodies(p.mail), c.want) || !p.next.Equal(wantNext) || p.drained != (reports && c.drained) {
			t.Errorf("collection of %s at %v = %v, next %v, drained %v, %v; want %v, next %v, drained %v",
				c.box, c.at, bodies(p.mail), p.next, p.drained, err, c.want, wantNext, reports && c.drained)
		}
	}
	select {
	case err := <-gone.done:
		t.Errorf("the abandoned collection was carried out: %v", err)
	default:
	}
	if mail, _, err := db.CollectMail(ctx, HostMailbox("g"), at(time.Second)); err != nil || !slices.Equal(bodies(mail), []string{`"g1"`}) {
		t.Errorf("g's mailbox after its caller went away = %v, %v; want g1 still there", bodies(mail), err)
	}
}

// collectTogether runs batch as the store runs concurrent collections: on SQLite in one of the
// connects' transactions, on PostgreSQL in shared statements.
func collectTogether(ctx context.Context, db *DB, batch []*pendingCollect) {
	if db.d.kind != kindSQLite {
		db.collectBatch(ctx, batch)
		return
	}
	writes := make([]*pendingWrite, len(batch))
	for i, p := range batch {
		writes[i] = &pendingWrite{collect: p}
	}
	db.commitWrites(ctx, writes)
}

// testTwoReplicasCollectEveryMessageOnce: two replicas' long-polls collect from the same
// mailboxes at once, many at a time (on PostgreSQL each replica's in shared statements, which
// take several recipients' messages), while grants on either replica keep posting to them:
// every message is collected exactly once, none is lost, and no collection fails.
func testTwoReplicasCollectEveryMessageOnce(t *testing.T, dsn string) {
	ctx := context.Background()
	replicas := []*DB{openStore(t, dsn), openStore(t, dsn)}
	const recipients, posts, collectors = 24, 1200, 32
	var mu sync.Mutex
	got := map[string]int{}
	collected := func(mail []Mail) int {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range mail {
			got[string(m.Body)]++
		}
		return len(got)
	}
	stop := make(chan struct{})
	var posting, collecting sync.WaitGroup
	for w := range 4 {
		posting.Go(func() {
			for i := w; i < posts; i += 4 {
				m := Mail{Recipient: HostMailbox(fmt.Sprint("h-", i%recipients)), Body: fmt.Appendf(nil, `"m-%04d"`, i), QueuedAt: at(0), ExpiresAt: at(time.Hour)}
				if err := replicas[i%2].PostMail(ctx, m); err != nil {
					t.Errorf("post %d: %v", i, err)
				}
			}
		})
	}
	for c := range 2 * collectors {
		collecting.Go(func() {
			for r := c; ; r += 7 {
				select {
				case <-stop:
					return
				default:
				}
				mail, _, err := replicas[c%2].CollectMail(ctx, HostMailbox(fmt.Sprint("h-", r%recipients)), at(time.Second))
				if err != nil {
					t.Errorf("collect: %v", err)
					return
				}
				collected(mail)
			}
		})
	}
	posting.Wait()
	for deadline := time.Now().Add(30 * time.Second); collected(nil) < posts && time.Now().Before(deadline) && !t.Failed(); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	collecting.Wait()
	for r := range recipients { // anything the collectors left
		mail, _, err := replicas[r%2].CollectMail(ctx, HostMailbox(fmt.Sprint("h-", r)), at(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		collected(mail)
	}
	if len(got) != posts {
		t.Fatalf("%d distinct messages collected, want %d", len(got), posts)
	}
	for body, n := range got {
		if n != 1 {
			t.Errorf("message %s collected %d times", body, n)
		}
	}
}
