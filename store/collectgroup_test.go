package store

import (
	"context"
	"slices"
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
		batch = append(batch, &pendingCollect{recipient: HostMailbox(c.box), now: at(c.at), at: db.d.timeArg(at(c.at)), done: make(chan error, 1)})
	}
	gone := &pendingCollect{recipient: HostMailbox("g"), now: at(time.Second), at: db.d.timeArg(at(time.Second)), done: make(chan error, 1)}
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
