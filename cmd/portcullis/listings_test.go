package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// inParallel runs fn(0) to fn(n-1), 32 at a time, so that the store's group commit batches
// them, and fails the test on the first error.
func inParallel(t testing.TB, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// volumeHosts is how many Hosts the listing test enrols: their listing as one answer (about
// 250 bytes a Host) would exceed what a client reads (api.MaxResponseBytes).
const volumeHosts = 6000

// enrollVolume enrols n staging Hosts, host-00000 to host-n-1, each with its own token, and
// returns their names in order.
func enrollVolume(t testing.TB, st *store.DB, n int) []string {
	t.Helper()
	ctx := context.Background()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("host-%05d", i)
	}
	inParallel(t, n, func(i int) error {
		hash := sha256.Sum256([]byte("secret-" + names[i]))
		err := st.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "tok-" + names[i], Hash: hash[:],
			Tags: map[string]string{"env": "staging", "team": "fleet"}, Tenant: "acme", CreatedBy: "dave@example.com", ExpiresAt: time.Now().Add(time.Hour)})
		if err == nil {
			_, err = st.EnrollHost(ctx, hash[:], store.Host{ID: "h-" + names[i], Name: names[i], OS: "linux"}, time.Now())
		}
		return err
	})
	return names
}

// createVolumeLocks records n locks on users, the newest first in the returned ids; every
// third one is removed, so that the locks in force are the others.
func createVolumeLocks(t testing.TB, st *store.DB, n int) (all, inForce []string) {
	t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	locks := make([]store.Lock, n)
	for i := range locks {
		locks[i] = store.Lock{ID: fmt.Sprintf("lk-%05d", i), Kind: store.LockUser, Target: fmt.Sprintf("u%d@example.com", i), Reason: "bulk",
			CreatedBy: "dave@example.com", CreatedAt: start.Add(time.Duration(i/4) * time.Millisecond)} // four at a time: equal times at page edges
		if i%3 != 2 { // every third is removed below
			inForce = append(inForce, locks[i].ID)
		}
		all = append(all, locks[i].ID)
	}
	inParallel(t, n, func(i int) error { return st.CreateLock(ctx, locks[i]) })
	// One at a time: 32 concurrent removals beside the creations made PostgreSQL's serializable
	// transactions abort each other until the store gave up, on a machine loaded by the other
	// packages' tests; the listings, not the removals, are what this fleet is for.
	for i := 2; i < n; i += 3 {
		if _, err := st.RemoveLock(ctx, locks[i].ID, "dave@example.com", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(all)
	slices.Reverse(inForce)
	return all, inForce
}

// 'hosts list', 'hosts' and 'locks' page through more than a page of a real CM over HTTPS, on
// SQLite and on PostgreSQL, streaming: 6,000 Hosts (more than one answer could carry) and 2,500
// locks, every one once, in order; a limit says when it left some out.
func TestListingsReachEveryHostAndLockOfALargeFleet(t *testing.T) {
	for name, dsn := range bothStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cm := startTestCM(t, dsn(t))
			start := time.Now()
			names := enrollVolume(t, cm.store, volumeHosts)
			all, inForce := createVolumeLocks(t, cm.store, 2500)
			t.Logf("enrolled %d Hosts and made 2,500 locks in %v", len(names), time.Since(start).Round(time.Millisecond))
			carol, alice := cm.signIn(t, "carol@example.com"), cm.signIn(t, "alice@example.com")

			out, stderr, err := runListing(t, carol, "hosts", "list", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, names) || stderr != "" {
				t.Errorf("hosts list: %d Hosts, %v, stderr %q; want all %d, by name, each once", len(got), err, stderr, len(names))
			}
			out, _, err = runListing(t, carol, "hosts", "list")
			if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != len(names)+2 || !strings.HasPrefix(lines[1], names[0]+" ") ||
				lines[len(lines)-1] != fmt.Sprintf("(%d hosts)", len(names)) {
				t.Errorf("hosts list as a table: %d lines, %v; want a header, %d Hosts and their count", len(lines), err, len(names))
			}
			out, stderr, err = runListing(t, carol, "hosts", "list", "--limit", "2500", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, names[:2500]) || !strings.Contains(stderr, "more hosts than --limit 2500") {
				t.Errorf("hosts list --limit 2500: %d Hosts, %v, stderr %q; want the first 2500 and a word that more exist", len(got), err, stderr)
			}

			// alice (ops, without MFA) reaches every staging Host; the CM decides them a page at a time.
			out, _, err = runListing(t, alice, "hosts", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, names) {
				t.Errorf("hosts (reachable): %d Hosts, %v; want all %d, by name, each once", len(got), err, len(names))
			}
			out, _, err = runListing(t, alice, "hosts")
			if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != len(names)+2 || !strings.HasPrefix(lines[1], names[0]+" ") ||
				lines[len(lines)-1] != fmt.Sprintf("(%d hosts)", len(names)) {
				t.Errorf("hosts (reachable) as a table: %d lines, %v; want a header, %d Hosts and their count", len(lines), err, len(names))
			}
			out, stderr, err = runListing(t, alice, "hosts", "--limit", "2500", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, names[:2500]) || !strings.Contains(stderr, "more hosts than --limit 2500") {
				t.Errorf("hosts (reachable) --limit 2500: %d Hosts, %v, stderr %q; want the first 2500 and a word that more exist", len(got), err, stderr)
			}

			// carol, an auditor, reaches none: the CM decides 2,000 Hosts a page and ends each page empty.
			out, _, err = runListing(t, carol, "hosts", "--format", "ndjson")
			if err != nil || out != "" {
				t.Errorf("hosts (reachable) as carol: %v, %q; want none", err, out)
			}

			// 'config ssh' needs only the principal, which every page names: it asks for one page,
			// not for the whole fleet (for carol, 3 pages of 2,000 decisions).
			for _, u := range []struct {
				g     guestConfig
				email string
			}{{alice, "alice@example.com"}, {carol, "carol@example.com"}} {
				before := cm.requests(api.PathReachableHosts)
				out, _, err = runListing(t, u.g, "config", "ssh")
				if asked := cm.requests(api.PathReachableHosts) - before; err != nil || !strings.Contains(out, "\n    User "+u.email+"\n") || asked != 1 {
					t.Errorf("config ssh as %s: %v, %d requests for reachable Hosts, printed:\n%s\nwant its User line after one request", u.email, err, asked, out)
				}
			}

			out, _, err = runListing(t, carol, "locks", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, inForce) {
				t.Errorf("locks: %d locks, %v; want the %d in force, newest first, each once", len(got), err, len(inForce))
			}
			out, _, err = runListing(t, carol, "locks", "--all")
			var history []api.Lock
			if err != nil || json.Unmarshal([]byte(out), &history) != nil || len(history) != len(all) || history[0].ID != all[0] || history[len(history)-1].ID != all[len(all)-1] {
				t.Errorf("locks --all: %d locks, %v; want one JSON array of all %d, newest first", len(history), err, len(all))
			}
			if _, stderr, err := runListing(t, carol, "locks", "--all", "--limit", "10", "--format", "table"); err != nil || !strings.Contains(stderr, "more locks than --limit 10") {
				t.Errorf("locks --limit 10: %v, stderr %q; want a word that more exist", err, stderr)
			}
		})
	}
}
