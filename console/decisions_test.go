package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

func TestLogFilterQuery(t *testing.T) {
	for _, tc := range []struct {
		name string
		form url.Values
		want url.Values
		bad  string
	}{
		{"empty", url.Values{}, url.Values{}, ""},
		{"denials since yesterday", url.Values{"outcome": {"deny"}, "since": {"2026-11-30"}},
			url.Values{api.QueryAllow: {"false"}, api.QuerySince: {"2026-11-30T00:00:00Z"}}, ""},
		{"allowed, user, host, reason", url.Values{"outcome": {"allow"}, "user": {" bob@example.com "}, "host": {"web-1"}, "reason": {"window"}},
			url.Values{api.QueryAllow: {"true"}, api.QuerySubject: {"bob@example.com"}, api.QueryHost: {"web-1"}, api.QueryReason: {"window"}}, ""},
		{"datetime-local", url.Values{"until": {"2026-11-30T08:15"}}, url.Values{api.QueryUntil: {"2026-11-30T08:15:00Z"}}, ""},
		{"RFC 3339 with a zone", url.Values{"since": {"2026-11-30T10:00:00+02:00"}}, url.Values{api.QuerySince: {"2026-11-30T08:00:00Z"}}, ""},
		{"bad time", url.Values{"since": {"yesterday"}}, nil, "since must be"},
		{"bad outcome", url.Values{"outcome": {"maybe"}}, nil, "outcome must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, bad := filterOf(tc.form).query()
			if tc.bad != "" {
				if !strings.Contains(bad, tc.bad) {
					t.Fatalf("refusal %q, want one containing %q", bad, tc.bad)
				}
				return
			}
			if bad != "" || q.Encode() != tc.want.Encode() {
				t.Fatalf("query %q (%q), want %q", q.Encode(), bad, tc.want.Encode())
			}
		})
	}
}

func TestCSVCellsAreNeverFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-1": "'-1", "@SUM": "'@SUM", "\tx": "'\tx",
		"bob@example.com": "bob@example.com", "": "",
	} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
	row := csvRow(api.Decision{ID: "dec_1", Time: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), Subject: "mallory@example.com",
		Reasons: []string{"a", "b"}, Labels: map[string]string{"operation": "decisions.query"}})
	if len(row) != len(csvHeader) || row[5] != "a; b" || row[7] != "decisions.query" || row[4] != "false" {
		t.Fatalf("csvRow = %q", row)
	}
}

// FuzzLogFilter feeds the decision log form's untrusted query to the filter: it never panics,
// and whatever it accepts is a query of the API's parameters only.
func FuzzLogFilter(f *testing.F) {
	f.Add("outcome=deny&since=2026-11-30&user=bob")
	f.Add("since=2026-11-30T08:15&until=2026-12-01T00:00:00Z&reason=%00")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, bad := filterOf(form).query()
		if bad != "" {
			return
		}
		for k := range q {
			switch k {
			case api.QuerySubject, api.QueryHost, api.QueryAllow, api.QuerySince, api.QueryUntil, api.QueryReason:
			default:
				t.Fatalf("the filter made the API parameter %q", k)
			}
		}
	})
}
