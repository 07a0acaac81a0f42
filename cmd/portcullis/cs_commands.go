package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
)

// Timings of a CS's command long-poll to the CM.
const (
	// commandPollTimeout bounds one long-poll (the CM holds it for up to 25 s).
	commandPollTimeout = 40 * time.Second
	// minCMBackoff and maxCMBackoff bound the pause after a failed poll (doubling, jittered).
	minCMBackoff = 250 * time.Millisecond
	maxCMBackoff = 10 * time.Second
)

// endOrderedSessions long-polls the CM for the sessions this CS must end (locks, policy
// changes) and ends them, until ctx ends. A CM that is down or restarting is retried with a
// growing, jittered pause; the CS's live sessions go on meanwhile.
func (c *cmLink) endOrderedSessions(ctx context.Context, relayID string, srv *relay.Server) {
	target := c.url + api.PathRelayCommands + "?" + url.Values{api.QueryRelayID: {relayID}}.Encode()
	backoff := minCMBackoff
	for ctx.Err() == nil {
		var cmds api.RelayCommands
		pctx, cancel := context.WithTimeout(ctx, commandPollTimeout)
		err := api.Call(pctx, c.client, http.MethodGet, target, "", nil, &cmds)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			pause := backoff/2 + rand.N(backoff/2+1)
			c.log.Warn("poll CM for session commands", "err", err, "retry_in", pause)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			backoff = min(2*backoff, maxCMBackoff)
			continue
		}
		backoff = minCMBackoff
		for _, cmd := range cmds.Commands {
			if !srv.EndSession(cmd.SessionID, cmd.Reason) {
				c.log.Info("CM ordered the end of a session this CS does not hold", "session", cmd.SessionID)
			}
		}
	}
}
