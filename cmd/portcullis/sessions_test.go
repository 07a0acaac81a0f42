package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// volumeSessions is how many session records the listing test pages through: more than two of
// the CM's largest pages.
const volumeSessions = 2*store.MaxSessionLimit + 345

// insertSessions records n sessions of alice on db-1, ses-00000 the newest, three starting in
// each millisecond (equal start times across page edges), every fifth one ended; it returns
// their ids newest first and how many are live.
func insertSessions(t testing.TB, st *store.DB, n int, newest time.Time) (ids []string, live int) {
	t.Helper()
	sessions := make([]store.Session, n)
	for i := range n {
		id := fmt.Sprintf("ses-%05d", i)
		ids = append(ids, id)
		sessions[i] = store.Session{ID: id, DecisionID: "dec-" + id, Subject: "alice@example.com", HostID: "host_db1", HostName: "db-1",
			RelayID: "cs-eu-1", Transport: "tcp", Encryption: "very_high", Channels: []string{"shell"},
			StartedAt: newest.Add(-time.Duration(i/3) * time.Millisecond)}
		if i%5 == 4 {
			sessions[i].EndedAt = new(newest.Add(time.Minute))
		} else {
			live++
		}
	}
	inParallel(t, n, func(i int) error { return st.CreateSession(t.Context(), sessions[i]) })
	// Within a millisecond the newest first is the greatest id first.
	slices.SortStableFunc(ids, func(a, b string) int {
		var i, j int
		fmt.Sscanf(a, "ses-%d", &i)
		fmt.Sscanf(b, "ses-%d", &j)
		if i/3 != j/3 {
			return i/3 - j/3
		}
		return strings.Compare(b, a)
	})
	return ids, live
}

// runListing runs the listing command of args (as the root command reads them) as g and
// returns its standard output, its standard error and its error.
func runListing(t *testing.T, g guestConfig, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append(args, "--cm", g.CM, "--ca-file", g.CAFile, "--config-dir", g.ConfigDir))
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// runSessionsLs runs 'sessions ls' as g with args.
func runSessionsLs(t *testing.T, g guestConfig, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runListing(t, g, append([]string{"sessions", "ls"}, args...)...)
}

// ndjsonIDs reads what names each item of a listing's ndjson: a session's or a lock's id, a
// Host's name.
func ndjsonIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(out) {
		var it struct {
			SessionID string `json:"session_id"`
			LockID    string `json:"lock_id"`
			Name      string `json:"name"`
		}
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, it.SessionID+it.LockID+it.Name)
	}
	return ids
}

// 'sessions ls' pages through more sessions than the CM's largest page, through a real CM
// over HTTPS on SQLite and on PostgreSQL: every session once, newest first, in every format;
// a limit says when it left sessions out.
func TestSessionsLsListsMoreSessionsThanAPage(t *testing.T) {
	for name, dsn := range bothStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cm := startTestCM(t, dsn(t))
			ids, live := insertSessions(t, cm.store, volumeSessions, time.Now().Add(-time.Hour))
			carol := cm.signIn(t, "carol@example.com")

			out, stderr, err := runSessionsLs(t, carol, "--limit", "0", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, ids) || stderr != "" {
				t.Errorf("--limit 0: %d sessions (err %v, stderr %q), want all %d, each once, newest first", len(got), err, stderr, len(ids))
			}
			out, _, err = runSessionsLs(t, carol, "--limit", "0", "--format", "json")
			var all []api.Session
			if err != nil || json.Unmarshal([]byte(out), &all) != nil || len(all) != len(ids) || all[0].ID != ids[0] || all[len(all)-1].ID != ids[len(ids)-1] {
				t.Errorf("--format json: %d sessions, %v; want one array of %d", len(all), err, len(ids))
			}
			out, _, err = runSessionsLs(t, carol, "--limit", "0", "--live", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || len(got) != live {
				t.Errorf("--live: %d sessions, %v; want the %d live", len(got), err, live)
			}
			out, stderr, err = runSessionsLs(t, carol, "--limit", "1500", "--format", "ndjson")
			if got := ndjsonIDs(t, out); err != nil || !slices.Equal(got, ids[:1500]) || !strings.Contains(stderr, "--limit 0 lists every one") {
				t.Errorf("--limit 1500: %d sessions, %v, stderr %q; want the newest 1500 and a word that more exist", len(got), err, stderr)
			}
			out, stderr, err = runSessionsLs(t, carol)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if err != nil || len(lines) != defaultSessionLimit+2 || !strings.HasPrefix(lines[1], ids[0]+" ") ||
				lines[len(lines)-1] != fmt.Sprintf("(%d sessions)", defaultSessionLimit) || !strings.Contains(stderr, "more sessions than --limit 100") {
				t.Errorf("the default: %d lines, %v, stderr %q; want a header, the newest %d and their count", len(lines), err, stderr, defaultSessionLimit)
			}
			if _, _, err := runSessionsLs(t, carol, "--limit", "-1"); err == nil || !strings.Contains(err.Error(), "want 0 (all) or more") {
				t.Errorf("--limit -1: err = %v, want it refused", err)
			}
		})
	}
}
