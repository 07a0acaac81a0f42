package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// A failed pass is due again a tick later, then after twice the wait each time, never later
// than the periodic interval; a complete pass under a policy makes no pass due until the
// policy changes, and resets the wait.
func TestALiveCheckRetriesAFailedPassAfterAGrowingWait(t *testing.T) {
	t.Parallel()
	oldPolicy, newPolicy := &policy.Engine{}, &policy.Engine{}
	c := newLiveCheck(5 * time.Second)
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if !c.due(oldPolicy, t0) {
		t.Fatal("no pass due at the start")
	}
	c.settle(oldPolicy, nil, t0)
	if c.due(oldPolicy, t0.Add(time.Hour)) {
		t.Error("a pass due with the policy of the last complete pass")
	}
	if !c.due(newPolicy, t0) {
		t.Error("no pass due after a policy change")
	}

	failed := errors.New("store down")
	now := t0
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		c.settle(newPolicy, failed, now)
		if c.due(newPolicy, now.Add(wait-time.Millisecond)) || c.due(oldPolicy, now.Add(wait-time.Millisecond)) {
			t.Errorf("failure %d: a pass due before %v", i+1, wait)
		}
		if !c.due(newPolicy, now.Add(wait)) {
			t.Errorf("failure %d: no pass due after %v", i+1, wait)
		}
		now = now.Add(wait)
	}

	c.settle(newPolicy, nil, now)
	if c.due(newPolicy, now.Add(time.Hour)) {
		t.Error("a pass due after a complete one")
	}
	c.settle(newPolicy, failed, now)
	if c.due(newPolicy, now.Add(time.Second-time.Millisecond)) || !c.due(newPolicy, now.Add(time.Second)) {
		t.Error("a complete pass did not reset the wait to a tick")
	}
}
