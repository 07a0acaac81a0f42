package host

import (
	"context"
	"crypto/rand"
	"math/big"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Retries of the agent's requests to the CM back off exponentially.
const (
	// minBackoff is the pause after the first failure.
	minBackoff = 250 * time.Millisecond
	// maxBackoff bounds the pause between retries.
	maxBackoff = 30 * time.Second
	// backoffFactor multiplies the pause after each failure.
	backoffFactor = 2
	// jitterFraction spreads every pause by ± this fraction, so that many Hosts do not act in step.
	jitterFraction = 0.2
)

// cmBackOff is the agent's backoff.BackOff between retries of a request to the CM: minBackoff,
// doubling up to maxBackoff, each pause spread by ±jitterFraction; but when the CM said when
// to come back (after, set by the failed request), that pause, spread alike.
type cmBackOff struct {
	exp   *backoff.ExponentialBackOff
	after time.Duration // the CM's retry-after for the last failure; 0 when it gave none
}

// newBackOff returns the backoff for one request's retries.
func newBackOff() *cmBackOff {
	return &cmBackOff{exp: &backoff.ExponentialBackOff{
		InitialInterval:     minBackoff,
		RandomizationFactor: jitterFraction,
		Multiplier:          backoffFactor,
		MaxInterval:         maxBackoff,
	}}
}

// Reset starts over at minBackoff.
func (b *cmBackOff) Reset() {
	b.exp.Reset()
	b.after = 0
}

// NextBackOff returns the pause before the next retry; the exponential pause grows either way.
func (b *cmBackOff) NextBackOff() time.Duration {
	next := b.exp.NextBackOff()
	if b.after > 0 {
		next, b.after = jitter(b.after), 0
	}
	return next
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads d by ±jitterFraction so that many Hosts do not act in step.
func jitter(d time.Duration) time.Duration {
	span := int64(float64(d) * 2 * jitterFraction)
	if span <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(span))
	if err != nil {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(n.Int64())
}
