package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connectStep is a step of a connect, timed in portcullis_cm_connect_step_seconds.
type connectStep int

const (
	// stepLookup reads the Host with the locks on it and its user, finds the healthy relays
	// and builds the policy's input.
	stepLookup connectStep = iota
	// stepDecide evaluates the policy and applies the locks.
	stepDecide
	// stepGrant chooses the relay and mints the tickets and the certificate (allowed only).
	stepGrant
	// stepCommit commits the record with its session and the Host's request: the wait for the
	// group commit and the commit itself.
	stepCommit
	connectSteps
)

// String is the step's label value.
func (s connectStep) String() string {
	switch s {
	case stepLookup:
		return "lookup"
	case stepDecide:
		return "decide"
	case stepGrant:
		return "grant"
	default:
		return "commit"
	}
}

// connectTimes is portcullis_cm_connect_step_seconds{step}: how long the steps of each connect
// took, so that a slow connect shows where its time went (a p99 set by the commit is a busy
// database writer; by decide, a costly policy or a busy CPU).
type connectTimes struct {
	vec   *prometheus.HistogramVec
	steps [connectSteps]prometheus.Observer
}

// newConnectTimes describes the connect-step histogram.
func newConnectTimes() *connectTimes {
	t := &connectTimes{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portcullis_cm_connect_step_seconds",
		Help:    "Time each step of a connect took on this CM replica: lookup (Host, relays, policy input), decide (policy, locks), grant (relay choice, tickets, certificate) and commit (the wait for the group commit of its record, session and Host request, and the commit).",
		Buckets: []float64{.0001, .0002, .0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2},
	}, []string{"step"})}
	for s := range connectSteps {
		t.steps[s] = t.vec.WithLabelValues(s.String())
	}
	return t
}

// stepClock times the steps of one connect, each from the end of the one before.
type stepClock struct {
	times *connectTimes
	last  time.Time
}

// start begins timing a connect's steps now.
func (t *connectTimes) start() stepClock { return stepClock{times: t, last: time.Now()} }

// done observes step as ended now.
func (c *stepClock) done(step connectStep) {
	now := time.Now()
	c.times.steps[step].Observe(now.Sub(c.last).Seconds())
	c.last = now
}
