package host

import (
	"testing"
	"time"
)

func TestAHostWhoseLongPollsTheCMAnswersHeartbeatsLessOften(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval time.Duration
		polling  bool
		want     time.Duration
	}{
		{"not polling: the CM's interval", 10 * time.Second, false, 10 * time.Second},
		{"polling: once a minute at the default interval", 10 * time.Second, true, time.Minute},
		{"polling at a short interval", time.Second, true, 6 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := heartbeatEvery(c.interval, c.polling); got != c.want {
				t.Fatalf("heartbeatEvery(%v, %v) = %v, want %v", c.interval, c.polling, got, c.want)
			}
		})
	}
}
