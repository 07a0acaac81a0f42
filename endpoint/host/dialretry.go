package host

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/access"
)

// A relay refuses a dial as access.ErrSourceBusy when a flood from the Host's own address took
// its place; it refuses before verifying the ticket, so the Host dials again with the same one.
const (
	// relayDialTries bounds the dials of one session's relay.
	relayDialTries = 4
	// relayRetryPause is the pause after the first source_busy refusal; it doubles after each.
	relayRetryPause = 200 * time.Millisecond
)

// dialedRelay is a session's stream through its relay and the transport that carries it.
type dialedRelay struct {
	conn      net.Conn
	transport string
}

// dialRelay runs dial, again after a growing pause while the relay refuses it as
// access.ErrSourceBusy, up to relayDialTries dials; any other failure ends it at once.
func dialRelay(ctx context.Context, dial func(context.Context) (net.Conn, string, error)) (net.Conn, string, error) {
	pauses := &backoff.ExponentialBackOff{
		InitialInterval:     relayRetryPause,
		RandomizationFactor: jitterFraction,
		Multiplier:          backoffFactor,
		MaxInterval:         maxBackoff,
	}
	d, err := backoff.Retry(ctx, func() (dialedRelay, error) {
		conn, transport, err := dial(ctx)
		if err != nil && !errors.Is(err, access.ErrSourceBusy) {
			return dialedRelay{}, backoff.Permanent(err)
		}
		return dialedRelay{conn, transport}, err
	}, backoff.WithBackOff(pauses), backoff.WithMaxTries(relayDialTries))
	return d.conn, d.transport, err
}
