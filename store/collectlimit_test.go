package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// collectAll collects the recipient's mail due at now until a collection takes none, and
// returns what the collections took, in order; it fails t if one takes more than MaxCollect.
func collectAll(t *testing.T, db *DB, recipient string, now time.Time) []Mail {
	t.Helper()
	var all []Mail
	for range 1000 {
		mail, _, err := db.CollectMail(context.Background(), recipient, now)
		if err != nil {
			t.Fatalf("collect the mail of %s: %v", recipient, err)
		}
		if len(mail) > MaxCollect {
			t.Fatalf("a collection of %s took %d messages, more than %d", recipient, len(mail), MaxCollect)
		}
		if len(mail) == 0 {
			return all
		}
		all = append(all, mail...)
	}
	t.Fatalf("the mail of %s never ran out", recipient)
	return nil
}

// testACollectionTakesAtMostMaxCollect: a recipient with more due messages than MaxCollect gets
// the oldest MaxCollect (of messages of one lifetime, the soonest to expire) from one collection, alone or grouped with other recipients', and
// the rest from the next ones, each once; the mailbox is not said to be drained before it is.
// A body longer than MaxMailBody is refused.
func testACollectionTakesAtMostMaxCollect(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	boxes := []string{HostMailbox("h-many"), RelayMailbox("cs-many"), HostMailbox("h-few")}
	counts := map[string]int{boxes[0]: 2*MaxCollect + 7, boxes[1]: MaxCollect + 1, boxes[2]: 3}
	var orders []Mail
	want := map[string][]string{}
	for _, box := range boxes {
		for i := range counts[box] {
			body := fmt.Sprintf(`{"box":%q,"n":%d}`, box, i)
			queued := at(time.Duration(counts[box]-i) * -time.Millisecond)
			orders = append(orders, Mail{Recipient: box, Body: []byte(body), QueuedAt: queued, ExpiresAt: queued.Add(time.Minute)})
			want[box] = append(want[box], body)
		}
	}
	slices.Reverse(orders) // posted newest first: only the collection puts them oldest first
	if n, err := db.PostOrders(ctx, orders); err != nil || n != len(orders) {
		t.Fatalf("PostOrders posted %d of %d: %v", n, len(orders), err)
	}

	// The first collection of each: alone (SQLite, CockroachDB) or, on PostgreSQL, the
	// grouped statement for the first and the last recipient and the single one for the other.
	first := map[string]Collected{}
	alone := boxes
	if db.d.kind == kindPostgres {
		round := []*pendingCollect{
			{recipient: boxes[0], now: at(time.Second), at: db.d.timeArg(at(time.Second))},
			{recipient: boxes[2], now: at(time.Second), at: db.d.timeArg(at(time.Second))},
		}
		if err := db.collectRound(ctx, round); err != nil {
			t.Fatalf("grouped collection: %v", err)
		}
		for _, p := range round {
			first[p.recipient] = Collected{Mail: p.mail, Next: p.next, Drained: p.drained}
		}
		alone = boxes[1:2]
	}
	for _, box := range alone {
		c, err := db.Collect(ctx, box, at(time.Second), false)
		if err != nil {
			t.Fatal(err)
		}
		first[box] = c
	}
	for _, box := range boxes {
		c, n := first[box], min(counts[box], MaxCollect)
		if !slices.Equal(bodies(c.Mail), want[box][:n]) {
			t.Errorf("the first collection of %s took %d messages, not the oldest %d in order", box, len(c.Mail), n)
		}
		if drained := db.d.kind == kindPostgres && counts[box] <= MaxCollect; c.Drained != drained {
			t.Errorf("the first collection of %s says drained %v, want %v", box, c.Drained, drained)
		}
		rest := collectAll(t, db, box, at(time.Second))
		if got := append(bodies(c.Mail), bodies(rest)...); !slices.Equal(got, want[box]) {
			t.Errorf("%s got %d messages in all, want each of %d once, oldest first", box, len(got), counts[box])
		}
	}

	long := Mail{Recipient: boxes[2], Body: []byte(`"` + strings.Repeat("x", MaxMailBody-1) + `"`), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
	if err := db.PostMail(ctx, long); !errors.Is(err, ErrInvalid) {
		t.Errorf("PostMail of a %d-byte body = %v, want ErrInvalid", len(long.Body), err)
	}
	if n, err := db.PostOrders(ctx, []Mail{long}); !errors.Is(err, ErrInvalid) || n != 0 {
		t.Errorf("PostOrders of a %d-byte body = %d, %v; want ErrInvalid", len(long.Body), n, err)
	}
	long.Body = long.Body[1:]
	if err := db.PostMail(ctx, long); err != nil {
		t.Errorf("PostMail of a %d-byte body: %v", len(long.Body), err)
	}
}
