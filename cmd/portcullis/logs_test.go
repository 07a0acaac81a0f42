package main

import (
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
