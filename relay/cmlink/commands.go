package cmlink

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/portcullis/portcullis/api"
)

// Timings of the command long-poll to the CM.
const (
	// commandPollTimeout bounds one long-poll (the CM holds it for up to 25 s).
	commandPollTimeout = 40 * time.Second
	// minPollBackoff and maxPollBackoff bound the pause after a failed poll: it doubles from
	// minPollBackoff up to maxPollBackoff, and each pause is drawn uniformly from its upper
	// half, so that relays the CM lost at once do not come back at once.
	minPollBackoff = 250 * time.Millisecond
	maxPollBackoff = 10 * time.Second
)

// PollCommands long-polls the CM once for the orders to end sessions on this relay; it
// returns when the CM answers (an empty list when nothing came within its hold time).
func (l *Link) PollCommands(ctx context.Context) ([]api.RelayCommand, error) {
	ctx, cancel := context.WithTimeout(ctx, commandPollTimeout)
	defer cancel()
	var cmds api.RelayCommands
	q := url.Values{api.QueryRelayID: {l.relayID()}}
	if err := l.call(ctx, http.MethodGet, api.PathRelayCommands+"?"+q.Encode(), nil, &cmds); err != nil {
		return nil, fmt.Errorf("cmlink: poll CM for commands: %w", err)
	}
	return cmds.Commands, nil
}

// EndOrderedSessions long-polls the CM for the sessions this relay must end (locks, policy
// changes) and ends them, until ctx ends. A CM that is down, restarting or refusing is retried
// with a growing, jittered pause (see minPollBackoff); the relay's live sessions go on
// meanwhile.
func (l *Link) EndOrderedSessions(ctx context.Context, r Relay) {
	pauses := pollBackoff()
	for ctx.Err() == nil {
		cmds, err := backoff.Retry(ctx, func() ([]api.RelayCommand, error) { return l.PollCommands(ctx) },
			backoff.WithBackOff(pauses),
			backoff.WithMaxElapsedTime(0),
			backoff.WithNotify(func(err error, next time.Duration) {
				l.logger().Warn("poll CM for session commands", "relay_id", l.relayID(), "err", err, "retry_in", next)
			}))
		if err != nil {
			return // only ctx's end stops the retries
		}
		for _, cmd := range cmds {
			if !r.EndSession(cmd.SessionID, cmd.Reason) {
				l.logger().Info("CM ordered the end of a session this CS does not hold", "relay_id", l.relayID(), "session_id", cmd.SessionID)
			}
		}
	}
}

// pollBackoff returns the pauses after failed polls: uniform in [d/2, d] for d = minPollBackoff,
// doubling up to maxPollBackoff. (An ExponentialBackOff draws from interval·(1±factor); an
// interval of 3d/4 with factor 1/3 is exactly [d/2, d].)
func pollBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     minPollBackoff * 3 / 4,
		RandomizationFactor: 1.0 / 3,
		Multiplier:          2,
		MaxInterval:         maxPollBackoff * 3 / 4,
	}
}
