//go:build linux

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/creack/pty"

	"github.com/portcullis/portcullis/api"
)

// TestTheWebConsoleInARealBrowser plays the console's cast in headless Chromium against a real
// CM, relay, Host and Guest: mallory is refused and her refusal is in the log; carol filters
// yesterday's denials and downloads them as CSV through the browser's download manager,
// sees sessions (with their time left) but no Lock button;
// dave locks bob's live `portcullis ssh` session from the Sessions page and the Guest exits,
// while carol's page drops the session without a reload; a forged form is refused. Every page
// is screenshot at a laptop's and a phone's size and checked for sideways scrolling and labels.
// Last, a record's page says whether the log holds it as the CM signed it (checkRecordProofs).
func TestTheWebConsoleInARealBrowser(t *testing.T) {
	dir := t.TempDir()
	// bob's window (weekdays 08:00-18:00 Copenhagen) would refuse him at night, and a window
	// open all day would still cut his session at its midnight (under an hour left late in the
	// evening): this CM's policy opens it all day, every day, in a zone where it is about noon
	// now, so that the story, with its 2 h session, runs alike at any hour.
	writePolicy(t, dir, "\"days\": [\"Monday\", \"Tuesday\", \"Wednesday\", \"Thursday\", \"Friday\"],\n\t\t\t\"start\": \"08:00\",\n\t\t\t\"end\": \"18:00\",\n\t\t\t\"time_zone\": \"Europe/Copenhagen\",",
		`"days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], "start": "00:00", "end": "24:00", "time_zone": "`+noonZone(time.Now())+`",`)
	ls := startLive(t, []string{"--policy-dir", dir}, "cs-eu-1")
	shots := t.TempDir()
	t.Logf("screenshots in %s", shots)
	b := startBrowser(t)
	url := ls.c.CMURL

	// mallory signs in: "not allowed", and the refusal is a record of the decision log.
	mallory := b.tab(t)
	if h := consoleSignIn(t, mallory, url, "mallory@example.com"); h != "Not allowed" {
		t.Fatalf("mallory's first page is %q, want Not allowed", h)
	}
	refusal := eval[string](t, mallory, `document.getElementById("refusal-id").textContent`)
	checkPage(t, mallory, shots, "not-allowed")
	d, err := ls.c.Decision(context.Background(), ls.dave, refusal)
	if err != nil || d.Allow || d.Subject != "mallory@example.com" || d.Labels["operation"] != "decisions.query" {
		t.Fatalf("mallory's refusal %s in the log: %+v, %v", refusal, d, err)
	}

	bobTab := b.tab(t)
	if h := consoleSignIn(t, bobTab, url, "bob@example.com"); h != "Not allowed" {
		t.Fatalf("bob's first page is %q, want Not allowed", h)
	}

	// carol filters yesterday's denials and downloads them: the log has denials of yesterday
	// (seeded), of the day before and of today (mallory's, bob's) and an allow of yesterday.
	yesterdays := seedYesterday(t, ls.c)
	carol := b.tab(t)
	if h := consoleSignIn(t, carol, url, "carol@example.com"); h != "Decision log" {
		t.Fatalf("carol's first page is %q, want Decision log", h)
	}
	today := time.Now().UTC()
	do(t, carol, "filter yesterday's denials",
		chromedp.SendKeys(chromedp.ID("f-since"), today.AddDate(0, 0, -1).Format("2006-01-02")),
		chromedp.SendKeys(chromedp.ID("f-until"), today.Format("2006-01-02")),
		chromedp.SetValue(chromedp.ID("f-outcome"), "deny"),
	)
	// The unfiltered page shows the same records: wait for the filtered page's load itself.
	clickAndLoad(t, carol, "apply")
	shown := eval[[]string](t, carol, `Array.from(document.querySelectorAll('#records tbody tr td:first-child a')).map(a => a.getAttribute('href').split('/').pop())`)
	if !slices.Equal(shown, []string{yesterdays[1], yesterdays[0]}) {
		t.Errorf("the filter of yesterday's denials shows %v, want %v (newest first)", shown, []string{yesterdays[1], yesterdays[0]})
	}
	if cp := eval[string](t, carol, `document.getElementById("checkpoint").textContent`); !regexp.MustCompile(`^Verified up to checkpoint \d+`).MatchString(cp) {
		t.Errorf("checkpoint line: %q", cp)
	}
	checkPage(t, carol, shots, "decisions")
	if reached := tabOrder(t, carol, 30); !slices.Contains(reached, "f-user") || !slices.Contains(reached, "apply") || !slices.Contains(reached, "csv") {
		t.Errorf("the keyboard does not reach the filters, Apply and the CSV link; Tab reaches %v", reached)
	}
	rows := downloadCSV(t, carol)
	if !slices.Equal(rows[0], []string{"decision_id", "timestamp", "subject", "host", "allow", "reasons", "path", "operation", "session_id", "relay", "revision"}) {
		t.Fatalf("CSV header %v", rows[0])
	}
	var ids []string
	for _, r := range rows[1:] {
		if at, err := time.Parse(time.RFC3339Nano, r[1]); err != nil || r[4] != "false" || at.Format("2006-01-02") != today.AddDate(0, 0, -1).Format("2006-01-02") {
			t.Errorf("the CSV of yesterday's denials has %v", r)
		}
		ids = append(ids, r[0])
	}
	if !slices.Equal(ids, []string{yesterdays[1], yesterdays[0]}) {
		t.Errorf("the CSV holds %v, want yesterday's denials %v", ids, []string{yesterdays[1], yesterdays[0]})
	}
	if nd := downloadNDJSON(t, carol); !slices.Equal(nd, ids) {
		t.Errorf("the NDJSON holds %v, the CSV %v", nd, ids)
	}
	do(t, carol, "open the record", chromedp.Navigate(url+"/ui/decisions/"+refusal), chromedp.WaitVisible(chromedp.ID("outcome")))
	checkPage(t, carol, shots, "record")

	// bob opens a shell on web-1.
	bob, err := ls.c.Login(context.Background(), "bob@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	g := startShell(t, ls, bob.Email, ls.c.Guest(context.Background(), bob, "ssh", "web-1"))

	// carol sees the session, and no Lock button.
	do(t, carol, "carol's sessions page", chromedp.Navigate(url+"/ui/sessions"), chromedp.WaitVisible(chromedp.CSS(`tr[data-session="`+g.id+`"]`)))
	if n := eval[int](t, carol, `document.querySelectorAll('form.rowlock, #lock-form').length`); n != 0 {
		t.Errorf("carol's sessions page has %d lock forms, want none", n)
	}
	checkTimeLeft(t, ls, carol, g.id)
	checkPage(t, carol, shots, "sessions-auditor")

	// dave's forged form: no CSRF token, refused, nothing locked.
	dave := b.tab(t)
	consoleSignIn(t, dave, url, "dave@example.com")
	status := eval[int](t, dave, `fetch('/ui/locks', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
		body: 'csrf=forged&kind=user&target=bob%40example.com&reason=forged'}).then(r => r.status)`)
	var locks []api.Lock
	if err := ls.call(ls.dave, http.MethodGet, api.PathLocks, nil, &locks); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusForbidden || len(locks) != 0 {
		t.Fatalf("a forged lock form: status %d, locks %+v; want 403 and none", status, locks)
	}
	if g.exited() {
		t.Fatalf("bob's session ended before the lock; output:\n%s", g.stdout.String())
	}

	// dave locks bob's session from the Sessions page.
	do(t, dave, "dave's sessions page", chromedp.Navigate(url+"/ui/sessions"), chromedp.WaitVisible(chromedp.ID("r-"+g.id)))
	checkPage(t, dave, shots, "sessions-admin")
	do(t, dave, "fill the lock", chromedp.SendKeys(chromedp.ID("r-"+g.id), "console test"))
	start := time.Now()
	do(t, dave, "lock bob's session", chromedp.Click(chromedp.ID("lock-"+g.id)), chromedp.WaitVisible(chromedp.ID("notice")))
	ls.endedAtBothEnds(t, g, "cs-eu-1", start)
	do(t, carol, "carol's page drops the ended session without a reload",
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-session="`+g.id+`"]`)))
	do(t, dave, "the ended session's page", chromedp.Navigate(url+"/ui/sessions/"+g.id), chromedp.WaitVisible(chromedp.ID("state")))
	if st := eval[string](t, dave, `document.getElementById("state").textContent`); st != "ended" {
		t.Errorf("the locked session's page says %q", st)
	}
	checkPage(t, dave, shots, "session")

	// dave sees what a candidate without the contractors' access would have changed: bob's
	// connect flips.
	bobConnect := ls.session(t, g.id).DecisionID
	candidate := candidateArchive(t, `"actions": {"connect"},
		"hosts": [{"env": "staging"}],
		"channels": ["shell"],`, `"actions": set(),
		"hosts": [{"env": "staging"}],
		"channels": ["shell"],`)
	do(t, dave, "upload a candidate policy",
		chromedp.Navigate(url+"/ui/policy"),
		chromedp.WaitVisible(chromedp.ID("p-candidate")),
		chromedp.SetUploadFiles(chromedp.ID("p-candidate"), []string{candidate}),
		chromedp.Submit(chromedp.ID("p-since")),
		chromedp.WaitVisible(chromedp.ID("impact-summary")),
		chromedp.WaitVisible(chromedp.CSS(`#flips a[href="/ui/decisions/`+bobConnect+`"]`)),
	)
	checkPage(t, dave, shots, "policy-impact")
	pasteCandidate(t, dave, url, dir, bobConnect)

	for _, p := range []string{"hosts", "policy"} {
		do(t, dave, "open "+p, chromedp.Navigate(url+"/ui/"+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		checkPage(t, dave, shots, p)
	}
	do(t, dave, "sign out", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("signed-out")))
	do(t, dave, "a page after sign-out", chromedp.Navigate(url+"/ui/sessions"), chromedp.WaitVisible(chromedp.ID("signin")))

	// carol reads on each record's page whether the log holds it as the CM signed it.
	forged := checkRecordProofs(t, ls, carol, shots, refusal)
	for _, line := range strings.Split(ls.c.LogOf("cm"), "\n") {
		if strings.Contains(line, "not signed by the log key") && !strings.Contains(line, forged) {
			t.Errorf("the CM logged a record other than %s as unsigned (the seeded records are signed with the CM's log key): %s", forged, line)
		}
	}
}

// checkRecordProofs: the page of a record the CM committed (id) says it is in the verified
// tree, signed by the log key. A copy of it in mallory's name, with its outcome flipped and the
// original's signature, inserted straight into the CM's database behind its back and queued
// for the sequencer, is logged as unsigned, and its page says it is not signed by the log key.
// Once the original is altered in the database, its page says the record shown is not the one
// the log holds. It returns the inserted record's id.
func checkRecordProofs(t *testing.T, ls *liveSystem, tab context.Context, shots, id string) string {
	t.Helper()
	ctx := context.Background()
	const forged = "dec-behind-the-cms-back"
	// The CM writes meanwhile: wait for its lock as the CM's own connections do.
	db, err := sql.Open("sqlite", strings.TrimPrefix(ls.c.StoreDSN(), "sqlite:")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"INSERT INTO decisions (id, decided_at, path, subject, host_id, host_name, allow, reasons, input, result, revision, eval_ns, labels," +
			" erased, masked, bundles, requested_by, req_id, log_sig, log_mac) SELECT $1, decided_at, path, 'mallory@example.com', host_id," +
			" host_name, NOT allow, reasons, input, result, revision, eval_ns, labels, erased, masked, bundles, requested_by, req_id, log_sig, log_mac" +
			" FROM decisions WHERE id = $2",
		"INSERT INTO log_queue (decided_at, decision_id) SELECT decided_at, $1 FROM decisions WHERE id = $2",
	} {
		if _, err := db.ExecContext(ctx, q, forged, id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	waitUntil(t, "the sequencer to log both records", func() bool {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM log_leaves WHERE decision_id IN ($1, $2)", id, forged).Scan(&n)
		return err == nil && n == 2
	})
	proof := func(id string) string {
		t.Helper()
		do(t, tab, "open record "+id, chromedp.Navigate(ls.c.CMURL+"/ui/decisions/"+id), chromedp.WaitVisible(chromedp.ID("proof")))
		return eval[string](t, tab, `document.getElementById("proof").textContent`)
	}
	if p := proof(id); !regexp.MustCompile(`^Record \d+ is in the verified tree of \d+ records \(inclusion proof checked; signed by the log key\)\.$`).MatchString(p) {
		t.Errorf("the page of %s, committed by the CM, says %q; want it verified and signed by the log key", id, p)
	}
	if p := proof(forged); !strings.HasPrefix(p, "Not signed by the log key:") || !strings.Contains(p, "inclusion proof checked") ||
		!strings.Contains(p, "behind the Connection Manager's back") {
		t.Errorf("the page of %s, inserted behind the CM's back, says %q; want it not signed by the log key", forged, p)
	}
	checkPage(t, tab, shots, "record-unsigned")
	if _, err := db.ExecContext(ctx, "UPDATE decisions SET allow = NOT allow WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	if p := proof(id); !strings.Contains(p, "the record shown is not the one the log holds") {
		t.Errorf("the page of %s, altered after it was logged, says %q; want it not the one the log holds", id, p)
	}
	return forged
}

// startShell runs an interactive Guest command (portcullis ssh) on a terminal, waits until
// its shell answers and the CM records the session, and returns it.
func startShell(t *testing.T, ls *liveSystem, subject string, c *exec.Cmd) *guestRun {
	t.Helper()
	g := &guestRun{cmd: c, done: make(chan struct{})}
	ptmx, err := pty.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(&g.stdout, ptmx) }()
	go func() { _ = c.Wait(); close(g.done) }()
	t.Cleanup(func() { _ = c.Process.Kill(); <-g.done; ptmx.Close() })
	_, _ = io.WriteString(ptmx, "echo sta''rted\n")
	waitUntil(t, "bob's shell to answer", func() bool { return strings.Contains(g.stdout.String(), "started") || g.exited() })
	if g.exited() {
		t.Fatalf("bob's shell ended at once:\n%s", g.stdout.String())
	}
	for _, s := range ls.liveSessions(t) {
		if s.Subject == subject {
			g.id = s.ID
		}
	}
	if g.id == "" {
		t.Fatalf("the CM lists no live session of %s", subject)
	}
	return g
}

// candidateArchive writes the default policy with one change to authz.rego as a gzipped tar
// and returns its path.
func candidateArchive(t *testing.T, old, replacement string) string {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, old, replacement)
	out := filepath.Join(t.TempDir(), "candidate.tar.gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tabOrder presses Tab n times from the top of the page and returns the ids (or tag names)
// of the elements the focus visits.
func tabOrder(t *testing.T, tab context.Context, n int) []string {
	t.Helper()
	eval[bool](t, tab, `document.activeElement && document.activeElement.blur && (document.activeElement.blur(), true)`)
	var reached []string
	for range n {
		do(t, tab, "press Tab", chromedp.KeyEvent("\t"))
		reached = append(reached, eval[string](t, tab, `document.activeElement.id || document.activeElement.tagName`))
	}
	return reached
}

// noonZone names a fixed-offset IANA zone (Etc/GMT±N) where the local time at now is between
// 11:00 and 13:00.
func noonZone(now time.Time) string {
	switch offset := 12 - now.UTC().Hour(); { // hours ahead of UTC
	case offset > 0:
		return fmt.Sprintf("Etc/GMT-%d", offset) // the Etc zones' signs are POSIX's: inverted
	case offset < 0:
		return fmt.Sprintf("Etc/GMT+%d", -offset)
	default:
		return "Etc/GMT"
	}
}

func TestNoonZoneIsAboutNoonAtEveryHour(t *testing.T) {
	for h := range 24 {
		now := time.Date(2026, time.December, 4, h, 30, 0, 0, time.UTC)
		loc, err := time.LoadLocation(noonZone(now))
		if err != nil {
			t.Fatalf("%02d:30 UTC: %v", h, err)
		}
		if local := now.In(loc).Hour(); local < 11 || local > 13 {
			t.Errorf("%02d:30 UTC is %02d:30 in %s, want about noon", h, local, loc)
		}
	}
}
