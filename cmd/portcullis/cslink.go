package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/relay"
	"github.com/portcullis/portcullis/ticket"
)

// reportTimeout bounds one report to the CM.
const reportTimeout = 10 * time.Second

// cmLink is a CS's connection to its CM: registration, load reports, keys and session reports.
type cmLink struct {
	url    string
	client *http.Client
	log    *slog.Logger

	lastBytes int64
	lastAt    time.Time
}

// fetchKeys loads the CM's ticket-signing keys, retrying until ctx ends.
func (c *cmLink) fetchKeys(ctx context.Context, keys *ticket.KeySet) error {
	for {
		err := api.Call(ctx, c.client, http.MethodGet, c.url+api.PathTicketKeys, "", nil, keys)
		if err == nil {
			return nil
		}
		c.log.Warn("fetch ticket keys from CM", "err", err)
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// maintain registers the relay and reports its load at the interval the CM asks for, and
// refreshes the ticket keys, until ctx ends.
func (c *cmLink) maintain(ctx context.Context, reg api.RelayRegistration, srv *relay.Server, keys *ticket.KeySet) {
	interval := time.Second
	lastKeys := time.Now()
	for {
		if next := c.register(ctx, reg, srv); next > 0 {
			interval = next
		}
		if time.Since(lastKeys) > keyRefresh {
			// A failed or invalid answer leaves the current keys in place.
			if err := api.Call(ctx, c.client, http.MethodGet, c.url+api.PathTicketKeys, "", nil, keys); err == nil {
				lastKeys = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// register sends one registration with the current load; it returns the interval the CM asks
// for, or 0.
func (c *cmLink) register(ctx context.Context, reg api.RelayRegistration, srv *relay.Server) time.Duration {
	st := srv.Stats()
	now := time.Now()
	reg.Sessions = st.Live
	reg.LiveSessions = srv.SessionIDs()
	if secs := now.Sub(c.lastAt).Seconds(); !c.lastAt.IsZero() && secs > 0 {
		reg.BytesPerSec = int64(float64(st.Bytes-c.lastBytes) / secs)
	}
	c.lastBytes, c.lastAt = st.Bytes, now
	var resp api.RelayRegistrationResponse
	err := api.Call(ctx, c.client, http.MethodPost, c.url+api.PathRelayRegister, "", reg, &resp)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("register with CM", "err", err)
		}
		return 0
	}
	return time.Duration(resp.IntervalSeconds) * time.Second
}

// reportPaired tells the CM how the two halves of a session reached this relay.
func (c *cmLink) reportPaired(ctx context.Context, relayID string, r relay.PairReport) {
	c.report(ctx, api.PathRelayPaired, r.SessionID, api.RelayPaired{
		RelayID: relayID, SessionID: r.SessionID, GuestTransport: r.GuestTransport, HostTransport: r.HostTransport,
	})
}

// reportEnd tells the CM that a session ended.
func (c *cmLink) reportEnd(ctx context.Context, relayID string, r relay.SessionReport) {
	c.report(ctx, api.PathRelaySessionEnd, r.SessionID, api.SessionEnd{
		RelayID: relayID, SessionID: r.SessionID, Started: r.Started, Ended: r.Ended,
		BytesUp: r.BytesGuestToHost, BytesDown: r.BytesHostToGuest, Reason: r.Reason,
	})
}

func (c *cmLink) report(ctx context.Context, path, session string, body any) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	if err := api.Call(ctx, c.client, http.MethodPost, c.url+path, "", body, nil); err != nil {
		c.log.Warn("report to CM", "path", path, "session", session, "err", err)
	}
}
