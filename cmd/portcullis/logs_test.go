package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTimeOrAge(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"24h", now.Add(-24 * time.Hour), true},
		{"90m", now.Add(-90 * time.Minute), true},
		{"2026-11-01T08:00:00Z", time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
		{"-3d", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"d", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseTimeOrAge(tt.in, now)
		if (err == nil) != tt.ok || (tt.ok && !got.Equal(tt.want)) {
			t.Errorf("parseTimeOrAge(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLogsQueryFlags(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	q, err := logsQueryConfig{Subject: "bob@example.com", Host: "web-1", Deny: true, Since: "1d", Reason: "window", Format: formatCSV}.query(now)
	if err != nil {
		t.Fatal(err)
	}
	want := "allow=false&host=web-1&reason=window&since=2026-11-23T09%3A00%3A00Z&subject=bob%40example.com"
	if q.Encode() != want {
		t.Errorf("query = %s, want %s", q.Encode(), want)
	}
	_, err = logsQueryConfig{Allow: true, Deny: true, Since: "soon", Format: "xml", Limit: -1}.query(now)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, part := range []string{"--allow and --deny", "--since", "--format", "--limit"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not name %s", err, part)
		}
	}
}

// volumeDecisions is how many decision records the paging test of 'logs query' reads: more
// than two of the CM's largest pages.
const volumeDecisions = 2*listPageSize + 345

// decisionIDs reads the decision_id of each record of 'logs query --format ndjson'.
func decisionIDs(t *testing.T, out string) []string {
	t.Helper()
	var ids []string
	for line := range strings.Lines(out) {
		var d struct {
			ID string `json:"decision_id"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

// 'logs query' pages through more records than the CM's largest page, through a real CM over
// HTTPS on SQLite and on PostgreSQL, as 'sessions ls', 'hosts' and 'locks' do: every record
// asked for, once, newest first, and a word on standard error when --limit (100 by default)
// left some out.
func TestLogsQueryPagesAndSaysWhenTheLimitLeftRecordsOut(t *testing.T) {
	for name, dsn := range bothStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cm := startTestCM(t, dsn(t))
			newest := time.Now().Add(-time.Hour)
			insertVolume(t, cm.store, volumeDecisions, newest)
			ids := make([]string, volumeDecisions)
			for i := range ids {
				ids[i] = fmt.Sprintf("vol-%06d", i)
			}
			carol := cm.signIn(t, "carol@example.com")
			// --until leaves out the records of carol's own queries, which the CM adds meanwhile.
			until := []string{"--until", newest.Add(time.Second).Format(time.RFC3339Nano)}
			tests := []struct {
				name string
				args []string
				want int // records, newest first
				more bool
			}{
				{"the default limit of 100", nil, 100, true},
				{"a limit past the first pages", []string{"--limit", "1500"}, 1500, true},
				{"a limit over the count", []string{"--limit", "5000"}, volumeDecisions, false},
				{"no limit", []string{"--limit", "0"}, volumeDecisions, false},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					args := append(append([]string{"logs", "query", "--format", "ndjson"}, until...), tt.args...)
					out, stderr, err := runListing(t, carol, args...)
					if got := decisionIDs(t, out); err != nil || !slices.Equal(got, ids[:tt.want]) {
						t.Errorf("%d records (%v, stderr %q), want the newest %d, each once", len(got), err, stderr, tt.want)
					}
					note := strings.Contains(stderr, "more records than --limit") && strings.Contains(stderr, "--limit 0 lists every one")
					if note != tt.more || (!tt.more && stderr != "") {
						t.Errorf("stderr %q; want a word that more exist: %v", stderr, tt.more)
					}
				})
			}
			out, stderr, err := runListing(t, carol, append([]string{"logs", "query"}, until...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if err != nil || len(lines) != 102 || lines[len(lines)-1] != "(100 records)" || !strings.Contains(stderr, "more records than --limit 100") {
				t.Errorf("the default table: %d lines, %v, stderr %q; want a header, 100 records, their count and a word that more exist", len(lines), err, stderr)
			}
		})
	}
}
