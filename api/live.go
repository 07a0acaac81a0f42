package api

import "time"

// Paths of the live-session API: session records, locks, re-evaluation, and the channels
// through which the CM orders a Connection Server or a Host to end a session.
const (
	PathSessions       = "/v1/sessions"
	PathReevaluate     = "/v1/sessions/reevaluate"
	PathLocks          = "/v1/locks"
	PathRelayCommands  = "/v1/relays/commands"
	PathHostSessionEnd = "/v1/hosts/session-end"
)

// QueryRelayID names the relay polling PathRelayCommands. The CM takes the relay from its
// client certificate; a query naming another relay is refused (403 wrong_relay).
const QueryRelayID = "relay"

// HeaderNextCursor carries the cursor of the next page of a listing answered in pages (GET
// /v1/sessions, /v1/hosts, /v1/locks and /v1/me/hosts): send it back as the cursor query
// parameter. It is absent after the last page.
const HeaderNextCursor = "Portcullis-Next-Cursor"

// HeaderRetryAfter is the header of a 503 that asks the client to wait (seconds).
const HeaderRetryAfter = "Retry-After"

// Why a session ended or a connect was refused, as the records and the refused user see it.
const (
	// ReasonPrefixLocked starts the reason of a lock ("locked: " + the lock's reason).
	ReasonPrefixLocked = "locked: "
	// ReasonPrefixRevoked starts the reason of a session the changed policy now denies.
	ReasonPrefixRevoked = "policy now denies: "
	// ReasonMaxDuration ends a session that reached its maximum duration.
	ReasonMaxDuration = "max_duration"
	// ReasonPrefixGuestRefused starts the reason of a session the Guest refused once granted
	// ("guest refused: " + the Guest's reason, e.g. its encryption level is below the minimum).
	ReasonPrefixGuestRefused = "guest refused: "
	// MaxRefusalReason bounds the Guest's reason for refusing a session, in characters.
	MaxRefusalReason = 300
)

// SessionRefusal is a Guest's refusal of the session it was granted
// (POST /v1/sessions/{id}/refuse; only the session's user, only while it is live).
type SessionRefusal struct {
	Reason string `json:"reason"`
}

// Session is a session record as the API shows it (GET /v1/sessions, admins and auditors).
type Session struct {
	ID             string     `json:"session_id"`
	DecisionID     string     `json:"decision_id"`
	Subject        string     `json:"subject"`
	HostID         string     `json:"host_id"`
	HostName       string     `json:"host_name"`
	RelayID        string     `json:"relay_id"`
	Transport      string     `json:"transport"`
	Encryption     string     `json:"encryption"`
	Channels       []string   `json:"channels"`
	ChannelsOpened int64      `json:"channels_opened"`
	StartedAt      time.Time  `json:"started_at"`
	EndedAt        *time.Time `json:"ended_at,omitempty"`
	BytesUp        int64      `json:"bytes_up"`
	BytesDown      int64      `json:"bytes_down"`
	EndReason      string     `json:"end_reason,omitempty"`
	Live           bool       `json:"live"`
	// MaxDurationSeconds is the decision's max_duration_seconds obligation: the relay and the
	// Host cut the session that long after StartedAt; 0 means no limit, absent unknown.
	MaxDurationSeconds *int64 `json:"max_duration_seconds,omitempty"`
	// EndsAt is when the relay and the Host cut the session; absent when nothing does (or
	// unknown).
	EndsAt *time.Time `json:"ends_at,omitempty"`
}

// LockRequest asks for a lock on exactly one of User, Host (by name) or Session.
type LockRequest struct {
	User    string `json:"user,omitempty"`
	Host    string `json:"host,omitempty"`
	Session string `json:"session,omitempty"`
	// TTLSeconds ends the lock by itself; 0 means until unlocked.
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	Reason     string `json:"reason"`
}

// Lock is a stored lock (POST/GET /v1/locks, DELETE /v1/locks/{id}).
type Lock struct {
	ID        string     `json:"lock_id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RemovedBy string     `json:"removed_by,omitempty"`
	RemovedAt *time.Time `json:"removed_at,omitempty"`
	Active    bool       `json:"active"`
	// EndedSessions lists the live sessions the new lock ended, at most MaxListedSessions of
	// them (EndedCount counts them all; EndedSessionsTruncated says some are not listed).
	EndedSessions          []string `json:"ended_sessions,omitempty"`
	EndedCount             int      `json:"ended_count"`
	EndedSessionsTruncated bool     `json:"ended_sessions_truncated,omitempty"`
	// Pending is true when the store was down: the lock is in force on the CM that answered
	// (202 Accepted) and its known sessions ended, but it is recorded only when the store is
	// back, and lost if that CM stops first.
	Pending bool `json:"pending,omitempty"`
}

// RelayCommand tells a Connection Server to end one session now.
type RelayCommand struct {
	SessionID string `json:"session_id"`
	Reason    string `json:"reason"`
}

// RelayCommands is the answer of a Connection Server's command long-poll.
type RelayCommands struct {
	Commands []RelayCommand `json:"commands"`
}

// HostSessionEnd is a Host's report of a finished session.
type HostSessionEnd struct {
	SessionID      string `json:"session_id"`
	ChannelsOpened int64  `json:"channels_opened"`
	Reason         string `json:"reason"`
}

// Reevaluation is the result of re-deciding every live session against the current policy.
// An answer lists at most MaxListedSessions of the sessions ended and of those warned about
// (Bounded); the counts count them all.
type Reevaluation struct {
	Checked     int      `json:"checked"`
	Ended       []string `json:"ended"`
	EndedCount  int      `json:"ended_count"`
	Warned      []string `json:"warned"`
	WarnedCount int      `json:"warned_count"`
	// Truncated says that Ended or Warned lists fewer sessions than it counts.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxListedSessions is how many session ids a lock's or a re-evaluation's answer lists at most,
// so that an answer that ends any number of sessions stays well within MaxResponseBytes.
const MaxListedSessions = 5000

// ListedSessions returns ids as an answer lists them: at most MaxListedSessions, and whether
// some were left out.
func ListedSessions(ids []string) (listed []string, truncated bool) {
	if len(ids) > MaxListedSessions {
		return ids[:MaxListedSessions:MaxListedSessions], true
	}
	return ids, false
}

// Bounded returns r as an answer carries it: its counts set and its lists cut to
// MaxListedSessions.
func (r Reevaluation) Bounded() Reevaluation {
	r.EndedCount, r.WarnedCount = len(r.Ended), len(r.Warned)
	var cutEnded, cutWarned bool
	r.Ended, cutEnded = ListedSessions(r.Ended)
	r.Warned, cutWarned = ListedSessions(r.Warned)
	r.Truncated = cutEnded || cutWarned
	return r
}

// Labels of an allowed connect's decision record that link it to what it granted.
const (
	// LabelOutcome is "granted", or the refusal code that stopped the grant (host_offline, …).
	LabelOutcome = "outcome"
	// LabelSession is the id of the session the decision started; the session's DecisionID
	// names the decision back.
	LabelSession = "session_id"
	// LabelRelay is the id of the relay chosen for the session.
	LabelRelay = "relay"
)
