package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/ticket"
)

// Reasons the CM itself gives when it denies without the policy's say.
const (
	reasonUnknownHost   = "unknown host"
	reasonHostDisabled  = "host is disabled"
	reasonPolicyFailure = "policy evaluation failed (fail closed)"
	// reasonNoRecord denies a live session whose allowing decision has no record: there is no
	// input to decide it on again.
	reasonNoRecord = "no decision record allowed this session (fail closed)"
)

// Labels of an allowed connect's decision record: the relay chosen, the whole reason (every
// skipped relay, for auditors), the reason the Guest was shown (only relays it may know of),
// and the outcome: "granted" with the session (which commits with the record), or the refusal
// code that stopped the grant (host_offline, no_relay, internal).
const (
	labelRelay            = api.LabelRelay
	labelRelayReason      = "relay_reason"
	labelRelayReasonShown = "relay_reason_shown"
	labelOutcome          = api.LabelOutcome
	labelSession          = api.LabelSession
	outcomeGranted        = "granted"
)

// transportPending is a session's transport until its relay reports the pairing.
const transportPending = "pending"

// connectAttempt carries one connect request through its steps.
type connectAttempt struct {
	claims identity.Claims
	req    api.ConnectRequest
	key    ssh.PublicKey
	host   store.Host
	locks  []store.Lock // in force on the user or the Host, read with the Host
	// locksMade is the Server's count of the locks it made, taken before the locks were read.
	locksMade uint64
	now       time.Time
	input     policy.Input
	engine    *policy.Engine
	path      string
	result    policy.Result
	relays    []store.Relay
	choice    relayChoice
	// For an allowed connect, before its record commits: the record's id, and either what the
	// grant will hand out (halves, session) or the refusal that stops it (outcome).
	decisionID string
	halves     grantHalves
	session    *store.Session
	mail       *store.Mail
	outcome    access.Code
}

// connectDeadline bounds a connect's work, its store calls included: a store that does not
// answer in time gets the Guest 503, never a hung request.
const connectDeadline = 10 * time.Second

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), connectDeadline)
	defer cancel()
	r = r.WithContext(ctx) // a store that hangs refuses the connect (fail closed), not holds it
	claims, ok := s.authenticateGuest(w, r)
	if !ok {
		return
	}
	a := &connectAttempt{claims: claims, now: s.cfg.Now()}
	if !readJSON(w, r, &a.req) || !s.parseConnect(w, a) {
		return
	}
	clock := s.connectTimes.start()
	// The locks are read with the Host, never cached: a lock must take effect at once.
	a.locksMade = s.locksMade.Load()
	host, locks, err := s.cfg.Store.HostAndLocks(ctx, a.req.Host, a.now, a.lockTargets()...)
	if err != nil {
		s.cfg.Logger.Error("load host and locks", "host_name", a.req.Host, "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable; refusing (fail closed)"})
		return
	}
	a.host, a.locks = host, locks
	hostKnown := host.ID != ""
	a.relays, err = s.relayCandidates(ctx, a.now)
	if err != nil {
		s.cfg.Logger.Error("list relays", "err", err)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "store unavailable; refusing (fail closed)"})
		return
	}
	a.input = s.policyInput(r, a)
	clock.done(stepLookup)
	s.decide(r, a, hostKnown)
	s.applyLocks(a)
	clock.done(stepDecide)
	if a.result.Decision.Allow {
		a.choice = chooseRelay(a.relays, relayAsk{
			obligations: a.result.Decision.Obligations, tenant: a.host.Tenant,
			privateOnly:  slices.Contains(s.cfg.PrivateRelayTenants, a.host.Tenant),
			guestLatency: a.req.RelayLatencies, hostLatency: s.presence.latencies(a.host), exclude: a.req.ExcludeRelays,
		})
		s.prepareGrant(a)
		clock.done(stepGrant)
	}
	dec, posted, err := s.recordDecision(r, a)
	clock.done(stepCommit)
	if err != nil {
		s.decisionLogDown(w, err)
		return
	}
	if !dec.Allow {
		writeError(w, api.Error{Code: access.ErrDenied, Message: "connection denied by policy", Reasons: dec.Reasons, DecisionID: dec.ID})
		return
	}
	s.grant(w, r, a, dec.ID, posted)
}

// prepareGrant works out, before the record commits, what an allowed connect hands out: the
// tickets, the certificate, the session and the Host's request, which then commit with the
// record (one transaction, group-committed with other connects'); or why it cannot (the Host
// is offline, no relay fits), which the record names as its outcome.
func (s *Server) prepareGrant(a *connectAttempt) {
	a.decisionID = newID("dec")
	if online, _ := s.presence.online(a.host, a.now, 3*s.cfg.HeartbeatInterval); !online {
		a.outcome = access.ErrHostOffline
		return
	}
	if !a.choice.found {
		a.outcome = access.ErrNoRelay
		return
	}
	g, err := s.mint(a, a.choice.relay, a.decisionID)
	var body []byte
	if err == nil {
		body, err = json.Marshal(g.host)
	}
	if err != nil {
		s.cfg.Logger.Error("mint session", "decision_id", a.decisionID, "err", err)
		a.outcome = access.ErrInternal
		return
	}
	a.halves = g
	a.mail = &store.Mail{
		Recipient: store.HostMailbox(a.host.ID), Body: body, QueuedAt: a.now, DeliverAt: a.now,
		ExpiresAt: a.now.Add(min(hostRequestTTL, s.cfg.TicketTTL)),
	}
	a.session = &store.Session{
		ID: g.resp.SessionID, DecisionID: a.decisionID, Subject: a.claims.Subject, HostID: a.host.ID, HostName: a.host.Name,
		RelayID: a.choice.relay.ID, Transport: transportPending, Encryption: a.req.Encryption, Channels: a.req.Channels, StartedAt: a.now,
		MaxDuration: s.sessionLimit(a.result.Decision.Obligations),
	}
}

// parseConnect validates the request body; it writes 400 and returns false when it is bad.
func (s *Server) parseConnect(w http.ResponseWriter, a *connectAttempt) bool {
	bad := func(msg string) bool {
		writeError(w, api.Error{Code: access.ErrBadRequest, Message: msg})
		return false
	}
	if !hostNamePattern.MatchString(a.req.Host) {
		return bad("host must be a host name")
	}
	if len(a.req.Channels) == 0 {
		return bad("channels must name at least one channel")
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(a.req.PublicKey))
	if err != nil {
		return bad("public_key is not an authorized_keys line")
	}
	if _, isCert := key.(*ssh.Certificate); isCert {
		return bad("public_key must be a plain key, not a certificate")
	}
	a.key = key
	return true
}

// policyInput builds the document the policy decides on.
func (s *Server) policyInput(r *http.Request, a *connectAttempt) policy.Input {
	in := policy.Input{
		Subject: subjectOf(a.claims),
		Request: policy.Request{Action: "connect", Channels: a.req.Channels, Encryption: a.req.Encryption},
		Context: policy.Context{Time: a.now, GuestAddr: remoteIP(r)},
	}
	if a.host.ID != "" {
		online, lastSeen := s.presence.online(a.host, a.now, 3*s.cfg.HeartbeatInterval)
		in.Host = policy.Host{
			ID: a.host.ID, Name: a.host.Name, Tenant: a.host.Tenant, OS: a.host.OS, Tags: a.host.Tags,
			Online: online, LastSeen: lastSeen,
		}
	} else {
		in.Host = policy.Host{Name: a.req.Host}
	}
	for _, rel := range a.relays {
		in.Context.Relays = append(in.Context.Relays, policy.RelayCandidate{ID: rel.ID, Region: rel.Region, Owner: rel.Owner, Private: rel.Private})
	}
	return in
}

// decide evaluates the policy; any failure, or a host the CM does not know or has disabled, is a deny.
func (s *Server) decide(r *http.Request, a *connectAttempt, hostKnown bool) {
	a.engine, a.path = s.cfg.Policy.Current(), cmDecisionPath
	switch {
	case !hostKnown:
		a.result = denyResult(reasonUnknownHost)
		return
	case a.host.Disabled:
		a.result = denyResult(reasonHostDisabled)
		return
	}
	a.path = policy.DecisionPath
	res, err := a.engine.Decide(r.Context(), a.input)
	if err != nil {
		s.cfg.Logger.Error("policy evaluation", "err", err)
		a.result = denyResult(reasonPolicyFailure)
		return
	}
	a.result = res
}

func denyResult(reasons ...string) policy.Result {
	d := policy.Decision{Allow: false, Reasons: reasons}
	raw, _ := json.Marshal(d)
	return policy.Result{Decision: d, Raw: raw}
}

// recordDecision commits the decision record, with the session of an allowed connect and its
// Host's request in the same transaction; nothing is granted before it returns nil. posted
// tells whether the Host's request was posted.
func (s *Server) recordDecision(r *http.Request, a *connectAttempt) (dec store.Decision, posted bool, err error) {
	e := logEntry{
		id: a.decisionID, engine: a.engine, now: a.now, path: a.path, subject: a.claims.Subject,
		hostID: a.host.ID, hostName: a.req.Host, input: a.input, result: a.result, session: a.session, mail: a.mail,
	}
	if a.result.Decision.Allow {
		e.labels = map[string]string{labelRelay: a.choice.relay.ID, labelRelayReason: a.choice.reason, labelRelayReasonShown: a.choice.shown,
			labelOutcome: cmp.Or(string(a.outcome), outcomeGranted)}
		if a.session != nil {
			e.labels[labelSession] = a.session.ID
		}
	}
	return s.commitPosting(r.Context(), e)
}

// grant carries out an allowed decision whose record, session and (when posted) Host's request
// have committed: it wakes the Host's long-poll and hands the Guest its half in the answer. A
// Host whose mailbox was full gets nothing: the session ends and the Guest is refused.
func (s *Server) grant(w http.ResponseWriter, r *http.Request, a *connectAttempt, decisionID string, posted bool) {
	switch a.outcome {
	case "":
	case access.ErrHostOffline:
		writeError(w, api.Error{Code: a.outcome, Message: "host " + a.host.Name + " is offline", DecisionID: decisionID})
		return
	case access.ErrNoRelay:
		writeError(w, api.Error{Code: a.outcome, Message: "no healthy relay that the policy allows: " + a.choice.shown, DecisionID: decisionID})
		return
	default:
		writeError(w, api.Error{Code: a.outcome, DecisionID: decisionID})
		return
	}
	sess, g := *a.session, a.halves
	s.live.add(sess)
	if !posted {
		s.abandonSession(r.Context(), sess, store.ErrMailboxFull)
		writeError(w, api.Error{Code: access.ErrUnavailable, Message: "host has too many pending requests", DecisionID: decisionID})
		return
	}
	if s.lockedMeanwhile(r.Context(), w, a, sess, decisionID) {
		return
	}
	s.mail.wakeUp(a.mail.Recipient)
	s.cfg.Logger.Info("connection granted", "decision_id", decisionID, "session_id", sess.ID, "subject", a.claims.Subject, "host_name", a.host.Name, "relay_id", sess.RelayID, "relay_reason", a.choice.reason)
	writeJSON(w, http.StatusOK, g.resp)
}

// abandonSession records the end of a session whose Host could not be sent its request: the
// Guest was refused, and no ticket outcome may be left open.
func (s *Server) abandonSession(ctx context.Context, sess store.Session, cause error) {
	s.cfg.Logger.Error("send a host its connection request", "session_id", sess.ID, "host_id", sess.HostID, "err", cause)
	s.live.remove(sess.ID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailStoreTimeout)
	defer cancel()
	if err := s.cfg.Store.EndSession(ctx, sess.ID, s.cfg.Now(), 0, 0, string(access.ErrUnavailable)); err != nil {
		s.cfg.Logger.Error("record the end of an abandoned session", "session_id", sess.ID, "err", err)
	}
}

// grantHalves is what mint produces: the Guest's answer and the Host's request.
type grantHalves struct {
	resp api.ConnectResponse
	host api.HostRequest
}

// sessionLimit is the longest an allowed session may last: the policy's maximum duration,
// or the CM's MaxSession when the policy sets none (0) or a longer one.
func (s *Server) sessionLimit(obl access.Obligations) time.Duration {
	if d := obl.MaxDuration(); d > 0 && d <= s.cfg.MaxSession {
		return d
	}
	return s.cfg.MaxSession
}

// mint signs both tickets and the Guest's SSH user certificate for one session.
func (s *Server) mint(a *connectAttempt, rel store.Relay, decisionID string) (grantHalves, error) {
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey(a.host.PublicKey)
	if err != nil {
		return grantHalves{}, fmt.Errorf("stored host key: %w", err)
	}
	validFor := s.sessionLimit(a.result.Decision.Obligations)
	// The tickets and the certificate carry the limit in force, so that the relay's backstop
	// and the Host cut the session at the CM's default too (0 in a ticket means no limit).
	obl := a.result.Decision.Obligations
	obl.MaxDurationSeconds = int64((validFor + time.Second - 1) / time.Second)
	sid := newID("ses")
	cert, err := certs.SignUserCert(s.cfg.SSHUserCA, a.key, certs.UserCertRequest{
		Principal: a.claims.Subject, SessionID: sid, DecisionID: decisionID, Groups: a.claims.Groups,
		ValidFor: validFor, Obligations: obl, Now: a.now,
	})
	if err != nil {
		return grantHalves{}, fmt.Errorf("sign user certificate: %w", err)
	}
	base := ticket.Claims{
		SessionID: sid, Audience: rel.ID, Subject: a.claims.Subject, HostID: a.host.ID,
		IssuedAt: a.now, NotBefore: a.now, Expiry: a.now.Add(s.cfg.TicketTTL),
		HostKeyFP: ssh.FingerprintSHA256(hostKey), GuestKeyFP: ssh.FingerprintSHA256(a.key),
		Obligations: obl, DecisionID: decisionID,
	}
	guestTicket, err := s.mintTicket(base, access.RoleGuest)
	if err != nil {
		return grantHalves{}, err
	}
	hostTicket, err := s.mintTicket(base, access.RoleHost)
	if err != nil {
		return grantHalves{}, err
	}
	addr := relayAddr(rel)
	return grantHalves{
		resp: api.ConnectResponse{
			SessionID: sid, DecisionID: decisionID, Relay: addr, Ticket: guestTicket,
			Certificate: string(ssh.MarshalAuthorizedKey(cert)), HostKey: string(ssh.MarshalAuthorizedKey(hostKey)),
			Principal: a.claims.Subject, Obligations: obl, ExpiresAt: a.now.Add(validFor), RelayReason: a.choice.shown,
		},
		host: api.HostRequest{SessionID: sid, Relay: addr, Ticket: hostTicket, Subject: a.claims.Subject, Obligations: obl},
	}, nil
}

func (s *Server) mintTicket(c ticket.Claims, role access.Role) (string, error) {
	c.ID = newID("tk")
	c.Role = role
	raw, err := s.cfg.TicketSigner.Mint(c)
	if err != nil {
		return "", fmt.Errorf("mint %s ticket: %w", role, err)
	}
	return raw, nil
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
