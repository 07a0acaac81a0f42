package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Page sizes of ListDecisions.
const (
	// DefaultDecisionLimit is the page size when DecisionFilter.Limit is 0.
	DefaultDecisionLimit = 100
	// MaxDecisionLimit is the largest page ListDecisions returns.
	MaxDecisionLimit = 1000
)

// Decision is one record of the decision log: what was asked, what the policy answered, why.
type Decision struct {
	// ID is the decision id (also the SSH certificate's KeyId and the tickets' did).
	ID string
	// Time is when the decision was made.
	Time time.Time
	// Path is the API path or action that asked (e.g. "/v1/connect").
	Path string
	// Subject is the user the decision is about.
	Subject string
	// HostID is the host asked for, if any.
	HostID string
	// HostName is the host's name at decision time.
	HostName string
	// Allow is the outcome.
	Allow bool
	// Reasons are the policy's human-readable reasons.
	Reasons []string
	// Input is the policy input document.
	Input json.RawMessage
	// Result is the decision document as the policy returned it.
	Result json.RawMessage
	// Revision identifies the policy that decided.
	Revision string
	// EvalNS is the policy evaluation time in nanoseconds.
	EvalNS int64
	// Labels are free-form annotations (e.g. the CM replica).
	Labels map[string]string
	// Erased lists the JSON pointers (into /input or /result) that data.system.log.mask
	// removed, in the order applied (OPA's "erased").
	Erased []string
	// Masked lists the JSON pointers that data.system.log.mask replaced with another value, in
	// the order applied (OPA's "masked").
	Masked []string
	// Bundles maps each policy bundle that decided to its revision (OPA's
	// "bundles": {name: {"revision": …}}).
	Bundles map[string]string
	// RequestedBy is the address of the client whose request started the decision (OPA's
	// "requested_by"); "" when no request did (re-evaluation).
	RequestedBy string
	// ReqID numbers the request that started the decision, unique on the CM replica named by
	// the "cm" label until it restarts (OPA's "req_id"); 0 when no request did.
	ReqID uint64
	// LogSig is the log key's signature of the record's canonical encoding (translog).
	LogSig []byte
	// LogMAC is the log key's record MAC of the canonical encoding and LogSig (translog): the
	// sequencer checks it instead of the signature, at a fiftieth of the cost.
	LogMAC []byte
	// LogIndex is the record's position in the transparency log; nil until it is logged.
	LogIndex *uint64
}

// DecisionFilter selects decisions; zero fields match everything.
type DecisionFilter struct {
	// Subject, when set, keeps decisions about this user.
	Subject string
	// HostID, when set, keeps decisions about this host.
	HostID string
	// HostName, when set, keeps decisions about the host of this name.
	HostName string
	// Allow, when set, keeps allowed (true) or denied (false) decisions.
	Allow *bool
	// Since, when set, keeps decisions at or after it.
	Since time.Time
	// Until, when set, keeps decisions strictly before it.
	Until time.Time
	// Reason, when set, keeps decisions with a reason containing it (case-insensitive; ASCII
	// letters only on SQLite); an index serves it (reasonindex.go).
	Reason string
	// Limit is the page size (DefaultDecisionLimit when 0, at most MaxDecisionLimit).
	Limit int
	// After is the cursor ListDecisions returned for the previous page; "" starts at the newest.
	After string
}

// decisionFields lists decisions' columns in decisionArgs' order.
const decisionFields = "id, decided_at, path, subject, host_id, host_name, allow, reasons, input, result," +
	" revision, eval_ns, labels, erased, masked, bundles, requested_by, req_id, log_sig, log_mac"

// decisionColumns selects a decisions row in scanDecision's order: its columns, qualified, and
// its position in the transparency log (its log_leaves row's; NULL until it is logged).
const decisionColumns = "decisions.id, decisions.decided_at, decisions.path, decisions.subject, decisions.host_id," +
	" decisions.host_name, decisions.allow, decisions.reasons, decisions.input, decisions.result, decisions.revision," +
	" decisions.eval_ns, decisions.labels, decisions.erased, decisions.masked, decisions.bundles, decisions.requested_by," +
	" decisions.req_id, decisions.log_sig, decisions.log_mac," +
	" (SELECT leaf.idx FROM log_leaves leaf WHERE leaf.decision_id = decisions.id) AS log_index"

// decisionArgCount is how many arguments one decision's row takes (decisionArgs).
const decisionArgCount = 20

// insertDecisionsSQL appends n decisions with one statement, each row's arguments in
// decisionFields' order after the previous row's.
func insertDecisionsSQL(n int) string {
	return "INSERT INTO decisions (" + decisionFields + ") VALUES " + valueRows(n, decisionArgCount, "")
}

// queueTables are the queues a committed record enters in its transaction: the outbox of
// records to ship (outbox.go) and the sequencer's queue of records to log (translog.go).
var queueTables = [...]string{"decision_outbox", "log_queue"}

// insertQueueSQL queues n committed decisions in table (one of queueTables), in their
// transaction; each row's arguments are a decision's id and time (decisionArgs' first two).
func insertQueueSQL(table string, n int) string {
	return "INSERT INTO " + table + " (decision_id, decided_at) VALUES " + valueRows(n, 2, "")
}

// valueRows is the VALUES list of n rows of width placeholders each, numbered on from row to
// row, each row ending with the literal extra when it is not "".
func valueRows(n, width int, extra string) string {
	var b strings.Builder
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range width {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(r*width+c+1))
		}
		if extra != "" {
			b.WriteString(", " + extra)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// scanDecision reads one decisions row.
func scanDecision(r rowScanner) (Decision, error) {
	var d Decision
	var reasons, input, result, labels, erased, masked, bundles string
	var reqID int64
	var index sql.NullInt64
	err := r.Scan(&d.ID, scanTime(&d.Time), &d.Path, &d.Subject, &d.HostID, &d.HostName, &d.Allow,
		&reasons, &input, &result, &d.Revision, &d.EvalNS, &labels, &erased, &masked, &bundles, &d.RequestedBy, &reqID,
		&d.LogSig, &d.LogMAC, &index)
	if err != nil {
		return d, err
	}
	if index.Valid {
		i := uint64(index.Int64)
		d.LogIndex = &i
	}
	d.Input, d.Result, d.ReqID = readRawJSON(input), readRawJSON(result), uint64(reqID)
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&d.Reasons, reasons}, {&d.Erased, erased}, {&d.Masked, masked}} {
		if *l.dst, err = decodeList(l.src); err != nil {
			return d, err
		}
	}
	if d.Labels, err = decodeMap(labels); err != nil {
		return d, err
	}
	d.Bundles, err = decodeMap(bundles)
	return d, err
}

// InsertDecision appends a decision to the log; when it returns nil the record is committed.
// ErrConflict on a duplicate id; ErrInvalid without id or time, or with Input or Result that
// is not JSON.
func (db *DB) InsertDecision(ctx context.Context, d Decision) error {
	return db.InsertDecisionAndSession(ctx, d, nil)
}

// InsertDecisionAndSession is InsertDecision that also creates sess, the session an allowed
// connect grants, in the same transaction: both commit or neither, so that no allow record is
// left without its session, whatever stops the CM. A nil sess inserts the decision alone.
func (db *DB) InsertDecisionAndSession(ctx context.Context, d Decision, sess *Session) error {
	_, err := db.insertWithDecision(ctx, d, sess, nil)
	return err
}

// InsertGrant is InsertDecisionAndSession that also posts m, the Host's half of the grant, in
// the same transaction: the Host can collect it only once the record and the session are
// committed, and one commit covers all three. posted is false when m's recipient has MaxMail
// messages waiting: the record and the session then committed without it (PostMail's
// ErrMailboxFull). ErrInvalid for a message PostMail refuses.
func (db *DB) InsertGrant(ctx context.Context, d Decision, sess Session, m Mail) (posted bool, err error) {
	return db.insertWithDecision(ctx, d, &sess, &m)
}

// insertWithDecision group-commits a decision with its optional session and mail.
func (db *DB) insertWithDecision(ctx context.Context, d Decision, sess *Session, m *Mail) (bool, error) {
	p := &pendingInsert{done: make(chan error, 1)}
	var err error
	p.args, err = db.decisionArgs(d)
	if err == nil && sess != nil {
		if sess.DecisionID != d.ID {
			err = fmt.Errorf("%w: session %s is not of decision %s", ErrInvalid, sess.ID, d.ID)
		} else {
			p.then, err = db.sessionArgs(*sess)
		}
	}
	if err == nil && m != nil {
		var ready Mail
		ready, err = readyMail(*m)
		p.mail = &ready
	}
	if err == nil {
		err = db.writes.submit(ctx, db.commitWrites, &pendingWrite{record: p}, p.done, nil) // group commit: see groupcommit.go
	}
	if err != nil {
		return false, fmt.Errorf("store: insert decision %q: %w", d.ID, err)
	}
	return p.posted, nil
}

// decisionArgs validates d and encodes it as the INSERT's arguments.
func (db *DB) decisionArgs(d Decision) ([]any, error) {
	if err := requireID("decision", d.ID); err != nil {
		return nil, err
	}
	if d.Time.IsZero() {
		return nil, fmt.Errorf("%w: decision time is zero", ErrInvalid)
	}
	reasons, err := encodeList(d.Reasons)
	if err != nil {
		return nil, err
	}
	labels, err := encodeMap(d.Labels)
	if err != nil {
		return nil, err
	}
	erased, err := encodeList(d.Erased)
	if err != nil {
		return nil, err
	}
	masked, err := encodeList(d.Masked)
	if err != nil {
		return nil, err
	}
	bundles, err := encodeMap(d.Bundles)
	if err != nil {
		return nil, err
	}
	if d.ReqID > math.MaxInt64 {
		return nil, fmt.Errorf("%w: req_id %d is out of range", ErrInvalid, d.ReqID)
	}
	input, err := rawJSON("input", d.Input)
	if err != nil {
		return nil, err
	}
	result, err := rawJSON("result", d.Result)
	if err != nil {
		return nil, err
	}
	return []any{d.ID, db.d.timeArg(d.Time), d.Path, d.Subject, d.HostID, d.HostName, d.Allow,
		reasons, input, result, d.Revision, d.EvalNS, labels, erased, masked, bundles, d.RequestedBy, int64(d.ReqID), d.LogSig, d.LogMAC}, nil
}

// GetDecision returns the decision with this id; ErrNotFound.
func (db *DB) GetDecision(ctx context.Context, id string) (Decision, error) {
	d, err := queryOne(ctx, db.sql, scanDecision, "SELECT "+decisionColumns+" FROM decisions WHERE id = $1", id)
	if err != nil {
		return Decision{}, fmt.Errorf("store: get decision %q: %w", id, err)
	}
	return d, nil
}

// ListDecisions returns one page of the decisions f selects, newest first (by time, then id), and
// the cursor of the next page ("" after the last page). Paging is by keyset: records inserted
// meanwhile never shift a page, and pages neither repeat nor skip a record. ErrInvalid for a
// cursor ListDecisions did not make.
func (db *DB) ListDecisions(ctx context.Context, f DecisionFilter) ([]Decision, string, error) {
	byIndex, err := db.reasonByIndex(ctx, f.Reason)
	if err != nil {
		return nil, "", fmt.Errorf("store: list decisions: %w", err)
	}
	query, args, limit, err := db.decisionQuery(f, byIndex)
	if err != nil {
		return nil, "", fmt.Errorf("store: list decisions: %w", err)
	}
	ds, err := queryAll(ctx, db.sql, scanDecision, query, append(db.reasonQueryOptions(f), args...)...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list decisions: %w", err)
	}
	ds, next := pageOf(ds, limit, DecisionCursor)
	return ds, next, nil
}

// DecisionCursor is the cursor of the page that follows d: ListDecisions with it as
// DecisionFilter.After continues with the record after d. A caller that ends a page early (the
// CM, to bound the page's size) hands it on as the page's next.
func DecisionCursor(d Decision) string { return encodeCursor(d.Time, d.ID) }

// decisionQuery is the SELECT of one page of ListDecisions (one more row than the page, to
// tell whether a next page exists), its arguments and the page size; byIndex reads the page
// from the SQLite reason index's candidates (reasonByIndex).
func (db *DB) decisionQuery(f DecisionFilter, byIndex bool) (string, []any, int, error) {
	w, err := db.decisionWhere(f, byIndex)
	if err != nil {
		return "", nil, 0, err
	}
	limit := clampLimit(f.Limit, DefaultDecisionLimit, MaxDecisionLimit)
	table := "decisions"
	if byIndex {
		table += reasonCandidatesBy
	}
	query := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY decided_at DESC, id DESC LIMIT %d",
		decisionColumns, table, w, limit+1)
	return query, w.args, limit, nil
}

// decisionWhere turns a filter into conditions.
func (db *DB) decisionWhere(f DecisionFilter, byIndex bool) (*where, error) {
	w := &where{}
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.HostID != "" {
		w.add("host_id = ?", f.HostID)
	}
	if f.HostName != "" {
		w.add("host_name = ?", f.HostName)
	}
	if f.Allow != nil {
		w.add("allow = ?", *f.Allow)
	}
	if !f.Since.IsZero() {
		w.add("decided_at >= ?", db.d.timeArg(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("decided_at < ?", db.d.timeArg(f.Until))
	}
	if f.Reason != "" {
		pattern, err := containsPattern(f.Reason)
		if err != nil {
			return nil, err
		}
		w.add("reasons "+db.d.ilike()+" ? ESCAPE '"+likeEscape+"'", pattern)
		if byIndex {
			if err := addReasonCandidates(w, f.Reason); err != nil {
				return nil, err
			}
		}
	}
	if err := db.addBefore(w, "decided_at", f.After); err != nil {
		return nil, err
	}
	return w, nil
}
