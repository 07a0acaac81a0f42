// Package gateway is the Connection Manager (CM): the HTTPS API that decides every connection.
//
// It verifies a Guest's OIDC identity, evaluates the mDAC policy, commits the decision record
// before anything else happens, picks a Connection Server, mints the two session tickets and
// the Guest's SSH user certificate, and hands the Host its half through the Host's long-poll.
// It also enrols Hosts (one-time tokens, mTLS client certificates), takes heartbeats and
// relay registrations, and serves the decision log (GET /v1/decisions, filtered and paged by
// cursor) and the policy's status to callers the policy allows, recording each such access.
// Records are masked through the policy's data.system.log.mask before they are stored.
//
// The gateway must never answer "allow" without a committed decision record, and every error
// on the decision path denies (fail closed). It never sees the Guest↔Host session stream.
package gateway
