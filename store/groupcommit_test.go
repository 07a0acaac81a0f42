package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testGroupCommitFailsOnlyTheBadRecord: a duplicate id among concurrent inserts (which share
// batches) fails alone with ErrConflict, and every other record commits.
func testGroupCommitFailsOnlyTheBadRecord(t *testing.T, dsn string) {
	const n = 64
	ctx := context.Background()
	db := openStore(t, dsn)
	dup := Decision{ID: "dup", Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{"ok"}}
	if err := db.InsertDecision(ctx, dup); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := Decision{ID: fmt.Sprintf("g-%02d", i), Time: at(time.Duration(i) * time.Millisecond), Subject: "bob@example.com", Reasons: []string{"no"}}
			if i == n/2 {
				d.ID = dup.ID
			}
			errs[i] = db.InsertDecision(ctx, d)
		})
	}
	wg.Wait()
	onlyTheDuplicateFailed(t, errs, n/2)
	if ids := pageAll(t, db, DecisionFilter{Limit: MaxDecisionLimit}); len(ids) != n {
		t.Fatalf("%d decisions committed, want %d (the first dup and %d others)", len(ids), n, n-1)
	}
}

// testGroupCommitHonoursTheCallersContext: a caller whose context has ended gets its error.
func testGroupCommitHonoursTheCallersContext(t *testing.T, dsn string) {
	db := openStore(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := db.InsertDecision(ctx, Decision{ID: "late", Time: at(0), Subject: "alice@example.com", Reasons: []string{"no"}})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("InsertDecision with a cancelled context = %v, want nil (committed) or context.Canceled", err)
	}
	if err == nil {
		if _, gerr := db.GetDecision(context.Background(), "late"); gerr != nil {
			t.Fatalf("InsertDecision returned nil but the record is missing: %v", gerr)
		}
	}
}

// testADecisionAndItsSessionCommitTogether: an allowed connect's record and its session commit
// in one transaction, batched with other records; when the session cannot be inserted, the
// decision is not committed either.
func testADecisionAndItsSessionCommitTogether(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const n = 32
	var wg sync.WaitGroup
	errs, sessions := make([]error, n), make([]string, n)
	for i := range n {
		sessions[i] = fmt.Sprintf("ses-%02d", i)
	}
	sessions[n/2] = sessions[0] // two decisions with one session: only one can commit
	for i := range n {
		wg.Go(func() {
			d := Decision{ID: fmt.Sprintf("dec-%02d", i), Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{}}
			s := Session{ID: sessions[i], DecisionID: d.ID, Subject: d.Subject, HostID: "h1", RelayID: "cs-1", StartedAt: at(0)}
			errs[i] = db.InsertDecisionAndSession(ctx, d, &s)
		})
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		d, derr := db.GetDecision(ctx, fmt.Sprintf("dec-%02d", i))
		if err != nil {
			failed++
			if !errors.Is(derr, ErrNotFound) {
				t.Errorf("decision %d failed with %v but its record is %+v, %v", i, err, d, derr)
			}
			continue
		}
		if derr != nil {
			t.Errorf("decision %d committed but cannot be read: %v", i, derr)
		}
		if s, serr := db.GetSession(ctx, sessions[i]); serr != nil || s.DecisionID != d.ID {
			t.Errorf("decision %d committed without its session: %+v, %v", i, s, serr)
		}
	}
	if failed != 1 {
		t.Fatalf("%d inserts failed, want exactly one of the two that share a session", failed)
	}
	bad := Decision{ID: "dec-x", Time: at(0), Subject: "alice@example.com", Allow: true}
	if err := db.InsertDecisionAndSession(ctx, bad, &Session{ID: "ses-x", DecisionID: "another", StartedAt: at(0)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a session of another decision = %v, want ErrInvalid", err)
	}
}

// testAGrantCommitsWithItsMail: an allowed connect's record, its session and its Host's request
// commit in one batched transaction; the request can be collected once they are committed; a
// full mailbox leaves the request out (posted false) and commits the rest; a request the store
// refuses commits nothing.
func testAGrantCommitsWithItsMail(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const n = 40 // more than one multi-row statement's worth
	box := HostMailbox("h1")
	grant := func(i int) (bool, error) {
		d := Decision{ID: fmt.Sprintf("dec-%02d", i), Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{}}
		s := Session{ID: fmt.Sprintf("ses-%02d", i), DecisionID: d.ID, Subject: d.Subject, HostID: "h1", RelayID: "cs-1", StartedAt: at(0)}
		m := Mail{Recipient: box, Body: []byte(fmt.Sprintf(`{"session_id":%q}`, s.ID)), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
		return db.InsertGrant(ctx, d, s, m)
	}
	var wg sync.WaitGroup
	posted, errs := make([]bool, n), make([]error, n)
	for i := range n {
		wg.Go(func() { posted[i], errs[i] = grant(i) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || !posted[i] {
			t.Fatalf("grant %d = %v, %v; want posted", i, posted[i], errs[i])
		}
		if _, err := db.GetSession(ctx, fmt.Sprintf("ses-%02d", i)); err != nil {
			t.Fatalf("grant %d committed without its session: %v", i, err)
		}
	}
	mail, _, err := db.CollectMail(ctx, box, at(time.Second))
	if err != nil || len(mail) != n {
		t.Fatalf("collected %d requests, %v; want %d", len(mail), err, n)
	}
	for i := range MaxMail {
		if err := db.PostMail(ctx, Mail{Recipient: box, Body: []byte("{}"), QueuedAt: at(0), ExpiresAt: at(time.Minute)}); err != nil {
			t.Fatalf("fill the mailbox (%d): %v", i, err)
		}
	}
	if ok, err := grant(n); err != nil || ok {
		t.Fatalf("grant to a full mailbox = %v, %v; want committed without its request", ok, err)
	}
	if _, err := db.GetDecision(ctx, fmt.Sprintf("dec-%02d", n)); err != nil {
		t.Fatalf("the record of a grant to a full mailbox is missing: %v", err)
	}
	d := Decision{ID: "dec-bad", Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{}}
	s := Session{ID: "ses-bad", DecisionID: d.ID, StartedAt: at(0)}
	for _, bad := range []Mail{{Recipient: box, Body: []byte("{}"), QueuedAt: at(0)}, {Recipient: box, Body: []byte("{}"), ExpiresAt: at(time.Minute)}} {
		if _, err := db.InsertGrant(ctx, d, s, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a request without expiry or queue time = %v, want ErrInvalid", err)
		}
	}
	if _, err := db.GetDecision(ctx, d.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused grant's record = %v, want ErrNotFound", err)
	}
}

// testAGrantSaysWhetherItsMailWasPosted: concurrent grants, batched together, race for the
// last places of a nearly full mailbox beside grants to mailboxes with room: every grant
// commits, each says truly whether its request was posted (it is collected exactly when it
// says so), exactly the places left are taken (the batches of one store take turns), and every
// request with room is posted.
func testAGrantSaysWhetherItsMailWasPosted(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const room, grants = 4, 48
	full := HostMailbox("h-full")
	for i := range MaxMail - room {
		if err := db.PostMail(ctx, Mail{Recipient: full, Body: []byte(`"old"`), QueuedAt: at(0), ExpiresAt: at(time.Minute)}); err != nil {
			t.Fatalf("fill the mailbox (%d): %v", i, err)
		}
	}
	box := func(i int) string { // every other grant to the nearly full mailbox
		if i%2 == 0 {
			return full
		}
		return HostMailbox(fmt.Sprint("h-", i%3))
	}
	posted, errs := make([]bool, grants), make([]error, grants)
	var wg sync.WaitGroup
	for i := range grants {
		wg.Go(func() {
			d := Decision{ID: fmt.Sprintf("dec-%02d", i), Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{}}
			s := Session{ID: fmt.Sprintf("ses-%02d", i), DecisionID: d.ID, Subject: d.Subject, HostID: "h1", RelayID: "cs-1", StartedAt: at(0)}
			m := Mail{Recipient: box(i), Body: []byte(fmt.Sprintf(`"g-%02d"`, i)), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
			posted[i], errs[i] = db.InsertGrant(ctx, d, s, m)
		})
	}
	wg.Wait()
	collected := map[string]bool{}
	for _, b := range []string{full, HostMailbox("h-0"), HostMailbox("h-1"), HostMailbox("h-2")} {
		for _, m := range collectAll(t, db, b, at(time.Second)) {
			collected[string(m.Body)] = true
		}
	}
	took := 0
	for i := range grants {
		body := fmt.Sprintf(`"g-%02d"`, i)
		switch {
		case errs[i] != nil:
			t.Errorf("grant %d = %v; want committed", i, errs[i])
		case posted[i] != collected[body]:
			t.Errorf("grant %d says posted %v, but its request was collected: %v", i, posted[i], collected[body])
		case box(i) != full && !posted[i]:
			t.Errorf("grant %d to a mailbox with room: not posted", i)
		case box(i) == full && posted[i]:
			took++
		}
	}
	if took != room {
		t.Errorf("%d of %d requests to the nearly full mailbox posted; want its %d places taken and the rest refused", took, grants/2, room)
	}
}

// onlyTheDuplicateFailed fails t unless errs[dup], the write with a duplicate record id, is
// ErrConflict and every other write, batched beside it, succeeded.
func onlyTheDuplicateFailed(t *testing.T, errs []error, dup int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case i == dup && !errors.Is(err, ErrConflict):
			t.Errorf("write %d, with a duplicate record id = %v, want ErrConflict", i, err)
		case i != dup && err != nil:
			t.Errorf("write %d = %v; a bad neighbour in its batch must not fail it", i, err)
		}
	}
}

func TestRowChunks(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{3, []int{2, 1}},
		{64, []int{64}},
		{100, []int{64, 32, 4}},
		{128, []int{64, 64}},
	} {
		var got []int
		for part := range rowChunks(make([]int, tc.n)) {
			got = append(got, len(part))
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("rowChunks(%d rows) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// testNoCollectedMailIsLost: many long-polls of many recipients collect at once (on SQLite in
// shared transactions), some of them going away as they ask: every message is either handed to
// exactly one caller that returned it, or still waiting for the next collection; none is lost.
func testNoCollectedMailIsLost(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const recipients, perRecipient = 8, 4
	for r := range recipients {
		for i := range perRecipient {
			m := Mail{Recipient: HostMailbox(fmt.Sprint(r)), Body: []byte(fmt.Sprintf(`"%d-%d"`, r, i)), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
			if err := db.PostMail(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for c := range 4 * recipients {
		wg.Go(func() {
			cctx, cancel := context.WithCancel(ctx)
			if c%3 == 0 {
				cancel() // this caller goes away as it asks
			}
			defer cancel()
			mail, _, err := db.CollectMail(cctx, HostMailbox(fmt.Sprint(c%recipients)), at(time.Second))
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("CollectMail: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range mail {
				got[string(m.Body)]++
			}
		})
	}
	wg.Wait()
	for r := range recipients {
		mail, _, err := db.CollectMail(ctx, HostMailbox(fmt.Sprint(r)), at(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mail {
			got[string(m.Body)]++
		}
	}
	if len(got) != recipients*perRecipient {
		t.Fatalf("%d distinct messages collected, want %d: %v", len(got), recipients*perRecipient, got)
	}
	for body, n := range got {
		if n != 1 {
			t.Errorf("message %s collected %d times", body, n)
		}
	}
}

// testGrantsAndCollectionsShareBatches: grants and long-polls' collections run at once (on
// SQLite in shared transactions), one grant with a duplicate record id among them: that grant
// alone fails, every other grant commits with its request, and every message is collected by
// exactly one caller, those posted by the grants too.
func testGrantsAndCollectionsShareBatches(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const grants, waiting, collectors = 48, 16, 32
	if err := db.InsertDecision(ctx, Decision{ID: "dec-dup", Time: at(0), Subject: "alice@example.com", Reasons: []string{"no"}}); err != nil {
		t.Fatal(err)
	}
	for i := range waiting {
		m := Mail{Recipient: HostMailbox("h-waiting"), Body: []byte(fmt.Sprintf(`"w-%02d"`, i)), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
		if err := db.PostMail(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	take := func(mail []Mail) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range mail {
			got[string(m.Body)]++
		}
	}
	errs := make([]error, grants)
	var wg sync.WaitGroup
	for i := range grants {
		wg.Go(func() {
			d := Decision{ID: fmt.Sprintf("dec-%02d", i), Time: at(0), Subject: "alice@example.com", Allow: true, Reasons: []string{}}
			if i == grants/2 {
				d.ID = "dec-dup"
			}
			s := Session{ID: fmt.Sprintf("ses-%02d", i), DecisionID: d.ID, Subject: d.Subject, HostID: "h1", RelayID: "cs-1", StartedAt: at(0)}
			m := Mail{Recipient: HostMailbox(fmt.Sprint("h-", i%4)), Body: []byte(fmt.Sprintf(`"g-%02d"`, i)), QueuedAt: at(0), ExpiresAt: at(time.Minute)}
			_, errs[i] = db.InsertGrant(ctx, d, s, m)
		})
	}
	for c := range collectors {
		wg.Go(func() {
			box := HostMailbox("h-waiting")
			if c%2 == 1 {
				box = HostMailbox(fmt.Sprint("h-", c%4))
			}
			mail, _, err := db.CollectPostedMail(ctx, box, at(time.Second))
			if err != nil {
				t.Errorf("CollectPostedMail(%s): %v", box, err)
			}
			take(mail)
		})
	}
	wg.Wait()
	onlyTheDuplicateFailed(t, errs, grants/2)
	for _, box := range []string{"h-waiting", "h-0", "h-1", "h-2", "h-3"} {
		mail, _, err := db.CollectMail(ctx, HostMailbox(box), at(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		take(mail)
	}
	if want := waiting + grants - 1; len(got) != want {
		t.Fatalf("%d distinct messages collected, want %d (the duplicate grant's request must not be posted)", len(got), want)
	}
	for body, n := range got {
		if n != 1 {
			t.Errorf("message %s collected %d times", body, n)
		}
	}
	if _, ok := got[fmt.Sprintf(`"g-%02d"`, grants/2)]; ok {
		t.Error("the failed grant's request was delivered")
	}
}
