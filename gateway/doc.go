// Package gateway is the Connection Manager (CM): the HTTPS API that decides every connection.
//
// It verifies a Guest's OIDC identity, evaluates the mDAC policy, commits the decision record
// before anything else happens, picks a Connection Server, mints the two session tickets and
// the Guest's SSH user certificate, and hands the Host its half through the Host's long-poll.
// It also enrols Hosts and tenants' private relays (one-time tokens, mTLS client certificates
// "host:<id>" and "relay:<id>"; Hosts renew theirs), takes heartbeats (with the Host's relay
// latencies; mTLS, or signed by the Host key over plain HTTP) and relay registrations (region,
// load, health, HTTP fallback address and key), exchanges a Guest's fresh ID token once for a
// short-lived client certificate bound to the Guest's key (required with the token on every
// user endpoint), serves the admin API, which the policy (data.portcullis.api) decides, and the
// decision log (GET /v1/decisions, filtered and paged by cursor) and the policy's status to callers the
// policy allows, recording each such access. Every call of that API passes one gate
// (apigate.go): authenticate (401, before anything is looked up), parse (400, recorded),
// authorize (403, recorded, whether the target exists or not), and only then look up (404).
// Records are masked through the policy's data.system.log.mask before they are stored.
//
// Relay choice (relaychoice.go): among the healthy candidates that the policy's obligations and
// the Host's tenant allow, that are not full and not excluded by the Guest after a failed
// pairing, the one with the lowest Guest latency + Host latency + load penalty; the whole reason
// goes into the decision's labels, and the Guest is shown one that names only the relays it
// may know of (never another tenant's). A tenant's private relay never carries another tenant's session,
// and a tenant that demands private relays never gets a vendor relay.
//
// It keeps deciding after a session starts. Session records (GET /v1/sessions) say who reached
// which Host through which relay, how, for how long and why it ended. Locks on a user, a Host or
// a session (POST /v1/locks) refuse new connects with the lock's reason and end the matching
// live sessions: the CM records the end and orders the Host (its request long-poll) and, as a
// backstop, the CS (its command long-poll) to close them. When the policy changes (a reload of
// Config.Policy, noticed within a second), and periodically, ReevaluateLive re-decides every
// live session and ends, or only warns about, those now denied. A relay that stops reporting for
// Config.RelayStale gets no new sessions and its live ones are recorded as ended; a relay's
// report lists the sessions it holds, and the records of the others (never paired, or whose end
// report was lost) are ended. Each CM replica passes on the orders of the others (sessions ended
// by a lock or a policy change, found in the shared store) to the Hosts and relays that poll it.
// Host requests pass an admission gate so that a herd reconnecting after a restart is told to
// come back later (Retry-After) instead of overloading the store.
//
// The gateway must never answer "allow" without a committed decision record, and every error
// on the decision path denies (fail closed). It never sees the Guest↔Host session stream.
package gateway
