//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/gateway"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/translog"
)

// seedYesterday records, in the CM's store, two denials and an allow of yesterday (UTC) and
// a denial of the day before, signed with the CM's log key as the CM would have signed them
// the day before; it returns the ids of yesterday's denials. The day's own denials
// (mallory's, bob's) are made by the test.
func seedYesterday(t *testing.T, c *localstack.Stack) []string {
	t.Helper()
	ctx := context.Background()
	keys, err := gateway.LoadKeys(c.CertsDir())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, c.StoreDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	midnight := time.Now().UTC().Truncate(24 * time.Hour)
	records := []struct {
		id, subject string
		allow       bool
		at          time.Time
	}{
		{"dec-yesterday-deny-1", "mallory@example.com", false, midnight.Add(-23 * time.Hour)},
		{"dec-yesterday-allow", "alice@example.com", true, midnight.Add(-12 * time.Hour)},
		{"dec-yesterday-deny-2", "bob@example.com", false, midnight.Add(-time.Minute)},
		{"dec-before-yesterday-deny", "mallory@example.com", false, midnight.Add(-25 * time.Hour)},
	}
	var denied []string
	for _, r := range records {
		result, _ := json.Marshal(map[string]any{"allow": r.allow, "reasons": []string{"seeded " + r.id}, "obligations": map[string]any{}})
		d := store.Decision{ID: r.id, Time: r.at, Path: "/v1/connect", Subject: r.subject, HostName: "web-1",
			Allow: r.allow, Reasons: []string{"seeded " + r.id}, Input: json.RawMessage(`{}`), Result: result, Revision: "seed",
			Labels: map[string]string{"operation": "connect"}}
		canonical, err := translog.Canonical(d)
		if err == nil {
			d.LogSig, err = keys.LogSigner.SignRecord(canonical)
		}
		if err == nil {
			err = db.InsertDecision(ctx, d)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.allow && r.at.After(midnight.Add(-24*time.Hour)) {
			denied = append(denied, r.id)
		}
	}
	return denied
}

// downloadCSV downloads the decision log page's CSV link (see download) and parses it.
func downloadCSV(t *testing.T, tab context.Context) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(download(t, tab, "csv", "csv"))).ReadAll()
	if err != nil || len(rows) < 1 {
		t.Fatalf("the downloaded CSV (%d rows): %v", len(rows), err)
	}
	return rows
}

// downloadNDJSON downloads the decision log page's NDJSON link (see download) and returns
// the records' ids.
func downloadNDJSON(t *testing.T, tab context.Context) []string {
	t.Helper()
	var ids []string
	dec := json.NewDecoder(bytes.NewReader(download(t, tab, "ndjson", "ndjson")))
	for dec.More() {
		var d api.Decision
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("the downloaded NDJSON: %v", err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// download clicks the link of id in the tab and lets the browser's download manager save it
// into a temporary directory (allowAndName), checks the name the server gave it, waits until
// the download completes and returns the file.
func download(t *testing.T, tab context.Context, id, ext string) []byte {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(tab, liveDeadline)
	defer cancel()
	do(t, ctx, "allow downloads", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(tab).BrowserContextID,
			DownloadPath: dir, EventsEnabled: ptr(true)})
		return err
	}))
	begun := chromedp.Events(ctx, cdpbrowser.DownloadWillBegin)
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	do(t, ctx, "click the "+id+" link", chromedp.Click(chromedp.ID(id)))
	var guid string
	for ev, err := range begun {
		if err != nil {
			t.Fatalf("the %s download did not begin: %v", id, err)
		}
		if !regexp.MustCompile(`^decisions-\d{8}T\d{6}Z\.` + ext + `$`).MatchString(ev.SuggestedFilename) {
			t.Errorf("the download is named %q", ev.SuggestedFilename)
		}
		guid = ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("the %s download did not complete: %v", id, err)
		}
		if ev.GUID != guid || ev.State == cdpbrowser.DownloadProgressStateInProgress {
			continue
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			t.Fatalf("the %s download ended %s", id, ev.State)
		}
		break
	}
	b, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTimeLeft checks the Sessions page in the tab shows the session's time left, counted
// from its start by the max_duration_seconds obligation of the decision that allowed it, and
// counts it down without a reload.
func checkTimeLeft(t *testing.T, ls *liveSystem, tab context.Context, id string) {
	t.Helper()
	s := ls.session(t, id)
	d, err := ls.c.Decision(context.Background(), ls.dave, s.DecisionID)
	if err != nil {
		t.Fatal(err)
	}
	obl, _ := d.Result.(map[string]any)["obligations"].(map[string]any)
	secs, ok := obl["max_duration_seconds"].(float64)
	if !ok || secs <= 0 {
		t.Fatalf("the session's decision has no maximum duration: %v", d.Result)
	}
	cell := fmt.Sprintf(`document.querySelector('tr[data-session="%s"] td.left')`, id)
	ends, err := time.Parse(time.RFC3339Nano, eval[string](t, tab, cell+`.getAttribute("data-ends")`))
	if want := s.StartedAt.Add(time.Duration(secs) * time.Second); err != nil || ends.Sub(want).Abs() > time.Millisecond {
		t.Errorf("the session ends at %v (%v), want %v", ends, err, want)
	}
	first := eval[string](t, tab, cell+`.textContent`)
	if !regexp.MustCompile(`^\d+h\d\dm\d\ds$`).MatchString(first) {
		t.Fatalf("the time left reads %q", first)
	}
	waitUntil(t, "the time left to count down", func() bool { return eval[string](t, tab, cell+`.textContent`) != first })
}

// pasteCandidate pastes candidates into the Policy page's form in the tab: Rego that does not
// parse is refused with a clear error and changes nothing, a forged form is refused, and the
// serving authz module of policyDir without the contractors' access flips bob's connect.
func pasteCandidate(t *testing.T, tab context.Context, cmURL, policyDir, bobConnect string) {
	t.Helper()
	do(t, tab, "paste Rego that does not parse",
		chromedp.Navigate(cmURL+"/ui/policy"), chromedp.WaitVisible(chromedp.ID("p-module")),
		chromedp.SetValue(chromedp.ID("p-module"), "package portcullis.authz\n\ndecision := {"),
		chromedp.Submit(chromedp.ID("p-module")), chromedp.WaitVisible(chromedp.ID("error")))
	if msg := eval[string](t, tab, `document.getElementById("error").textContent`); !strings.Contains(msg, "does not parse") {
		t.Errorf("bad Rego's error: %q", msg)
	}
	if n := eval[int](t, tab, `document.querySelectorAll('#impact-summary, #flips').length`); n != 0 {
		t.Errorf("bad Rego shows an impact")
	}
	status := eval[int](t, tab, `(() => { const f = new FormData(); f.append('csrf', 'forged'); f.append('module', 'package portcullis.authz');
		return fetch('/ui/policy/impact', {method: 'POST', body: f}).then(r => r.status); })()`)
	if status != http.StatusForbidden {
		t.Errorf("a forged impact form: status %d, want 403", status)
	}
	src, err := os.ReadFile(filepath.Join(policyDir, "authz.rego"))
	if err != nil {
		t.Fatal(err)
	}
	const contractors = "\"actions\": {\"connect\"},\n\t\t\"hosts\": [{\"env\": \"staging\"}],"
	if !strings.Contains(string(src), contractors) {
		t.Fatal("the serving authz.rego has no contractors' role to change")
	}
	module := strings.Replace(string(src), contractors, "\"actions\": set(),\n\t\t\"hosts\": [{\"env\": \"staging\"}],", 1)
	do(t, tab, "paste a candidate authz module",
		chromedp.SetValue(chromedp.ID("p-module"), module),
		chromedp.Submit(chromedp.ID("p-module")),
		chromedp.WaitVisible(chromedp.ID("impact-summary")),
		chromedp.WaitVisible(chromedp.CSS(`#flips a[href="/ui/decisions/`+bobConnect+`"]`)))
	if sum := eval[string](t, tab, `document.getElementById("impact-summary").textContent`); !strings.Contains(sum, "not made by the pasted module") {
		t.Errorf("the pasted candidate's summary: %q", sum)
	}
}
