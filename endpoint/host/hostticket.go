package host

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/ticket"
)

// ReasonPrefixHostRefused starts the reason a Host reports for a connection request it
// refused before dialing ("host refused: " + the refusal code, e.g. bad_signature).
const ReasonPrefixHostRefused = "host refused: "

// errNoTicketKeys: the Host has no way to obtain the CM's ticket keys, so it verifies no ticket.
var errNoTicketKeys = fmt.Errorf("ticket: %w: the host holds no ticket keys", access.ErrUnknownKey)

// ticketKeys returns the source of the CM's published ticket keys for rt: fetched from
// GET /v1/ticket-keys over the Host's mTLS client to the CM (its current certificate).
func (h *Agent) ticketKeys(rt *hostRuntime) *ticket.KeySource {
	return &ticket.KeySource{Fetch: func(ctx context.Context, keys *ticket.KeySet) error {
		return api.Call(ctx, rt.cm(), http.MethodGet, h.CMURL+api.PathTicketKeys, "", nil, keys)
	}}
}

// verifyTicket checks the ticket of connection request req before the Host acts on it, as a
// relay checks it (ticket.Verifier, the relay's default clock skew) minus the single use,
// which is the relay's: signed by a key the CM publishes (fetched again when the ticket names
// one the Host lacks, within the KeySource's bound), role host, audience the relay the request
// tells the Host to dial, valid now, for this Host (the id of its enrolment, never one from the
// request), and for the request's session, the one the Guest's SSH certificate is then checked
// against. Every failure wraps its refusal code.
func (rt *hostRuntime) verifyTicket(ctx context.Context, req api.HostRequest) (*ticket.Claims, error) {
	switch {
	case rt.tickets == nil:
		return nil, errNoTicketKeys
	case rt.state.HostID == "":
		return nil, fmt.Errorf("ticket: %w: the host has no id", access.ErrWrongAudience)
	case req.Relay.ID == "":
		return nil, fmt.Errorf("ticket: %w: the request names no relay", access.ErrWrongAudience)
	case req.SessionID == "":
		return nil, fmt.Errorf("ticket: %w: the request names no session", access.ErrMalformed)
	}
	v := ticket.Verifier{Audience: req.Relay.ID}
	return rt.tickets.Verify(ctx, v, req.Ticket, access.RoleHost, func(c *ticket.Claims) error {
		switch {
		case c.HostID != rt.state.HostID:
			return fmt.Errorf("ticket: %w: ticket is for host %q, this is %q", access.ErrWrongAudience, short(c.HostID), rt.state.HostID)
		case c.SessionID != req.SessionID:
			return fmt.Errorf("ticket: %w: ticket is for session %q, the request for %q", access.ErrWrongAudience, short(c.SessionID), short(req.SessionID))
		}
		return nil
	})
}

// refuseRequest logs why the Host refuses connection request req (err, from verifyTicket) and
// reports it to the CM, which ends the session with that reason.
func (h *Agent) refuseRequest(ctx context.Context, rt *hostRuntime, req api.HostRequest, err error) {
	code := access.CodeOf(err)
	h.logger().Warn("refusing a connection request: its ticket does not verify",
		"session_id", short(req.SessionID), "relay_id", short(req.Relay.ID), "code", code, "err", err)
	if req.SessionID != "" {
		h.reportEnd(ctx, rt, req.SessionID, new(atomic.Int64), ReasonPrefixHostRefused+string(code))
	}
}

// short bounds a string from a request or a ticket for logs and messages.
func short(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}
