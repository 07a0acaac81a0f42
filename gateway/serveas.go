package gateway

import (
	"context"
	"net/http"

	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
)

// consoleClaimsKey is the context key of a user the web console authenticated (ServeAs).
type consoleClaimsKey struct{}

// ServeAs serves an API request on behalf of a user whose ID token the caller verified: the
// web console (package console), whose session cookie replaces the Guest's client
// certificate. The request then passes the API's gate like any other call, so that the same
// policy decides it and the decision log records it as the API call it is. Only code in the
// CM's process can make such a request: the claims travel in the request's context, never on
// the wire.
func (s *Server) ServeAs(claims identity.Claims, w http.ResponseWriter, r *http.Request) {
	ctx := context.WithValue(r.Context(), consoleClaimsKey{}, claims)
	s.Handler().ServeHTTP(w, r.WithContext(ctx))
}

// consoleClaims returns the claims ServeAs put in the request's context.
func consoleClaims(r *http.Request) (identity.Claims, bool) {
	c, ok := r.Context().Value(consoleClaimsKey{}).(identity.Claims)
	return c, ok && c.Subject != ""
}

// Allows tells whether the policy lets the user make an API operation now, without recording
// anything: for a user interface deciding which controls to show. It is never a grant: the
// operation itself passes the gate, which decides again and records.
func (s *Server) Allows(ctx context.Context, claims identity.Claims, operation string) bool {
	in := policy.Input{
		Subject: subjectOf(claims),
		Request: policy.Request{Action: policy.ActionAdminister, Operation: operation},
		Context: policy.Context{Time: s.cfg.Now()},
	}
	res, err := s.cfg.Policy.Current().DecideAPI(ctx, in)
	return err == nil && res.Decision.Allow
}
