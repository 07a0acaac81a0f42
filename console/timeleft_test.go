package console

import (
	"testing"
	"time"
)

func TestTimeLeft(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		l    sessionLimit
		want string
	}{
		{sessionLimit{}, "unknown"},
		{sessionLimit{Pending: true}, "…"},
		{sessionLimit{Known: true}, "no limit"},
		{sessionLimit{Known: true, Ends: now.Add(time.Hour + 2*time.Minute + 3500*time.Millisecond)}, "1h02m03s"},
		{sessionLimit{Known: true, Ends: now.Add(59*time.Second + 900*time.Millisecond)}, "0m59s"},
		{sessionLimit{Known: true, Ends: now.Add(26 * time.Hour)}, "26h00m00s"},
		{sessionLimit{Known: true, Ends: now}, "ending"},
		{sessionLimit{Known: true, Ends: now.Add(-time.Minute)}, "ending"},
	} {
		if got := timeLeft(tc.l, now); got != tc.want {
			t.Errorf("timeLeft(%+v) = %q, want %q", tc.l, got, tc.want)
		}
	}
}
