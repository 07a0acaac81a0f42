package main

import (
	"testing"
	"time"
)

func TestNthLogTime(t *testing.T) {
	log := "time=2026-12-01T23:10:26.123Z level=INFO msg=\"policy rolled out\" revision=a\n" +
		"time=2026-12-01T23:10:27.456Z level=INFO msg=\"session ended by the CM\" session_id=s1\n" +
		"time=2026-12-01T23:10:28.789Z level=INFO msg=\"policy rolled out\" revision=b\n" +
		"not a log line with policy rolled out\n"
	cases := []struct {
		name, line string
		n          int
		want       time.Time
		ok, err    bool
	}{
		{"first", "policy rolled out", 1, time.Date(2026, 12, 1, 23, 10, 26, 123e6, time.UTC), true, false},
		{"second", "policy rolled out", 2, time.Date(2026, 12, 1, 23, 10, 28, 789e6, time.UTC), true, false},
		{"not yet", "session ended by the CM", 2, time.Time{}, false, false},
		{"a line without a time", "policy rolled out", 3, time.Time{}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			at, ok, err := nthLogTime(log, c.line, c.n)
			if ok != c.ok || (err != nil) != c.err || !at.Equal(c.want) {
				t.Errorf("nthLogTime(%q, %d) = %v, %v, %v; want %v, %v, error %v", c.line, c.n, at, ok, err, c.want, c.ok, c.err)
			}
		})
	}
}
