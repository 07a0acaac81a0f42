package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portcullis/portcullis/store"
)

// seededSessions is how many more live sessions the Sessions page test records: more than two
// of the page's pages.
const seededSessions = 1234

// seedLiveSessions records n live sessions like g's (its user, Host and decision), each
// started before it, through a relay that reports to no CM (so that nothing ends them), and
// returns their ids.
func seedLiveSessions(t *testing.T, ls *liveSystem, g *guestRun, n int) []string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ls.c.StoreDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	model, err := db.GetSession(ctx, g.id)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range ids {
		s := model
		s.ID, s.RelayID, s.StartedAt = fmt.Sprintf("ses_seeded_%05d", i), "cs-archive", model.StartedAt.Add(-time.Duration(i/2+1)*time.Second)
		ids[i] = s.ID
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := db.CreateSession(ctx, s); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// TestConsolePagesThroughEveryLiveSession: with more live sessions than a page of the
// Sessions page holds, carol follows its "Older sessions" link from the newest page (which
// holds alice's real session first) to the last and sees every live session exactly once; the
// rows the page's script reloads are that page's.
func TestConsolePagesThroughEveryLiveSession(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	g := ls.startSession(t)
	seeded := seedLiveSessions(t, ls, g, seededSessions)
	b := startBrowser(t)
	carol := b.tab(t)
	consoleSignIn(t, carol, ls.c.CMURL, "carol@example.com")
	do(t, carol, "the sessions page", chromedp.Navigate(ls.c.CMURL+"/ui/sessions"), chromedp.WaitVisible(chromedp.ID("sessions")))
	seen := map[string]int{}
	var sizes []int
	for {
		ids := eval[[]string](t, carol, `[...document.querySelectorAll('#session-rows tr[data-session]')].map(r => r.dataset.session)`)
		if len(sizes) == 0 && (len(ids) == 0 || ids[0] != g.id) {
			t.Errorf("the newest page starts with %.1q, want alice's live session %s", ids, g.id)
		}
		reloaded := eval[int](t, carol, `fetch(document.getElementById('sessions').dataset.rows).then(r => r.text()).then(t => (t.match(/data-session=/g) || []).length)`)
		if reloaded != len(ids) {
			t.Errorf("page %d: the script's rows hold %d sessions, the page %d", len(sizes)+1, reloaded, len(ids))
		}
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			seen[id]++
		}
		if !eval[bool](t, carol, `document.getElementById('older') !== null`) {
			break
		}
		clickAndLoad(t, carol, "older")
	}
	seenOnceEach(t, "live sessions", append([]string{g.id}, seeded...), seen, sizes, 3)
}

// seenOnceEach fails unless pages (of sizes) showed each of want exactly once and nothing
// else, on the number of pages given.
func seenOnceEach(t *testing.T, what string, want []string, seen map[string]int, sizes []int, pages int) {
	t.Helper()
	missing, twice := 0, 0
	for _, id := range want {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(seen) != len(want) || len(sizes) != pages {
		t.Errorf("pages of %v %s: %d missing, %d seen more than once, %d seen in all; want all %d once, on %d pages",
			sizes, what, missing, twice, len(seen), len(want), pages)
	}
}

// seededHosts is how many more Hosts the Hosts page test enrols: more than two of its pages.
const seededHosts = 1234

// TestConsolePagesThroughEveryHost: with more Hosts than a page of the Hosts page holds, dave
// follows its "Next hosts" link from the first page to the last and sees every Host exactly
// once.
func TestConsolePagesThroughEveryHost(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	want := append(seedHosts(t, ls, seededHosts), ls.hostName)
	b := startBrowser(t)
	dave := b.tab(t)
	consoleSignIn(t, dave, ls.c.CMURL, "dave@example.com")
	do(t, dave, "the hosts page", chromedp.Navigate(ls.c.CMURL+"/ui/hosts"), chromedp.WaitVisible(chromedp.ID("hosts")))
	seen := map[string]int{}
	var sizes []int
	for {
		names := eval[[]string](t, dave, `[...document.querySelectorAll('#hosts tbody tr')].map(r => r.cells[0].textContent)`)
		sizes = append(sizes, len(names))
		for _, n := range names {
			seen[n]++
		}
		if !eval[bool](t, dave, `document.getElementById('next-hosts') !== null`) {
			break
		}
		clickAndLoad(t, dave, "next-hosts")
	}
	seenOnceEach(t, "hosts", want, seen, sizes, 3)
}

// seedHosts enrols n Hosts straight into the CM's store, each with a token of its own, and
// returns their names.
func seedHosts(t *testing.T, ls *liveSystem, n int) []string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ls.c.StoreDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("seeded-%05d", i)
		hash := sha256.Sum256([]byte("secret-" + names[i]))
		err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "tok-" + names[i], Hash: hash[:],
			Tags: map[string]string{"env": "staging"}, Tenant: "acme", CreatedBy: "dave@example.com", ExpiresAt: time.Now().Add(time.Hour)})
		if err == nil {
			_, err = db.EnrollHost(ctx, hash[:], store.Host{ID: "h-" + names[i], Name: names[i], OS: "linux"}, time.Now())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}
