package hostauth

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"github.com/portcullis/portcullis/internal/privatedir"
)

// The password scheme's lock table counts failed attempts under two keys: (Portcullis user,
// logon), the certified subject guessing one host-local logon, and (every user, logon), all
// subjects together against distributed guessing. A key that reaches its ceiling within
// PasswordFailureWindow is locked for PasswordLockout from that failure, rounded up to the
// whole second it announces; its failures are then forgotten. The table lives in the Host's
// state dir as one JSON file, replaced atomically (mode 0600) before a failure is reported:
//
//	{"version":1,"all_locked_until":"…","entries":[{"user":"alice@example.com","logon":"maint",
//	  "failures":["2026-03-02T10:00:00Z",…],"locked_until":"2026-03-02T10:15:00Z"},…]}
//
// An entry without "user" is the logon's all-users key. A state file that cannot be parsed (or
// is too large) fails closed: it is moved aside to password-locks.json.corrupt and every logon
// is locked for PasswordLockout from the start ("all_locked_until"), after which the table is
// empty; a state file that cannot be read at all stops the Host from starting.
const (
	// PasswordFailureWindow is how far back failed attempts count towards a ceiling.
	PasswordFailureWindow = 15 * time.Minute
	// PasswordLogonFailuresAllowed is the per-logon ceiling: failures of all Portcullis users
	// together against one logon per PasswordFailureWindow before it is locked for everyone.
	PasswordLogonFailuresAllowed = 20
	// maxLockKeys bounds the keys the table tracks; when every slot holds a live key, new
	// keys are refused (fail closed) until failures age out or locks lift.
	maxLockKeys = 1024
	// maxUserBytes bounds a Portcullis user name (the certificate's principal) the table keeps.
	maxUserBytes = 256
	// maxLockEntryBytes bounds one key's JSON (names escaped, up to the ceiling's timestamps).
	maxLockEntryBytes = 4 << 10
	// maxLockStateBytes bounds the state file: a larger file is corrupt.
	maxLockStateBytes = maxLockKeys * maxLockEntryBytes
	// lockStateVersion is the state file's format version.
	lockStateVersion = 1
	// LockStateFile is the lock table's file name in the Host's state dir.
	LockStateFile = "password-locks.json"
	// corruptSuffix names where a corrupt state file is moved aside.
	corruptSuffix = ".corrupt"
	// lockStateMode keeps the table to the agent's user (on Windows its directory's access
	// list does, see openLockTable).
	lockStateMode = 0o600
	// lockGranularity is what a lock's end is rounded up to, so that the announced time
	// (RFC 3339, whole seconds) is exactly when it lifts.
	lockGranularity = time.Second
)

// lockKey names a counter: user "" is the logon's all-users key.
type lockKey struct{ user, logon string }

// lockEntry is one key's recent failures, lock and attempts being checked.
type lockEntry struct {
	failures    []time.Time // within PasswordFailureWindow, oldest first
	lockedUntil time.Time   // zero or past: not locked
	pending     int         // attempts being verified now (never persisted)
}

// ceiling is how many failures lock the key.
func (k lockKey) ceiling() int {
	if k.user == "" {
		return PasswordLogonFailuresAllowed
	}
	return PasswordFailuresAllowed
}

// lockTable is the persisted table of failures and locks; its owner serializes access.
type lockTable struct {
	path           string
	entries        map[lockKey]*lockEntry
	allLockedUntil time.Time // every logon, after a corrupt state file
}

// lockStateJSON is the state file.
type lockStateJSON struct {
	Version        int             `json:"version"`
	AllLockedUntil time.Time       `json:"all_locked_until,omitzero"`
	Entries        []lockEntryJSON `json:"entries"`
}

// lockEntryJSON is one key in the state file.
type lockEntryJSON struct {
	User        string      `json:"user,omitempty"`
	Logon       string      `json:"logon"`
	Failures    []time.Time `json:"failures,omitempty"`
	LockedUntil time.Time   `json:"locked_until,omitzero"`
}

// errCorruptLocks reports a state file this package did not write.
var errCorruptLocks = errors.New("hostauth: corrupt password lock state")

// openLockTable reads the table from stateDir, pruned at now, after making the directory private
// to the agent's user (privatedir: mode 0700 on Unix, an owner-only access list on Windows that
// the table's file inherits). A corrupt file is moved aside and every logon locked for
// PasswordLockout; an unreadable one is an error.
func openLockTable(stateDir string, now time.Time, log *slog.Logger) (*lockTable, error) {
	if err := privatedir.Make(stateDir); err != nil {
		return nil, fmt.Errorf("hostauth: state dir: %w", err)
	}
	t := &lockTable{path: filepath.Join(stateDir, LockStateFile), entries: map[lockKey]*lockEntry{}}
	data, err := readBounded(t.path, maxLockStateBytes)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return t, nil
	case errors.Is(err, errCorruptLocks):
	case err != nil:
		return nil, fmt.Errorf("hostauth: password lock state: %w", err)
	default:
		err = t.parse(data, now)
	}
	if err == nil {
		t.prune(now)
		return t, nil
	}
	t.entries = map[lockKey]*lockEntry{}
	t.allLockedUntil = lockEnd(now)
	aside := t.path + corruptSuffix
	if rerr := os.Rename(t.path, aside); rerr != nil {
		return nil, fmt.Errorf("hostauth: moving aside the corrupt password lock state: %w", errors.Join(err, rerr))
	}
	if werr := t.save(); werr != nil {
		return nil, errors.Join(err, werr)
	}
	log.Error("corrupt password lock state moved aside; every logon is locked", "file", t.path, "moved_to", aside,
		"locked_until", t.allLockedUntil, "err", err)
	return t, nil
}

// readBounded reads path, or errCorruptLocks when it holds more than limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", errCorruptLocks, limit)
	}
	return data, nil
}

// parse fills the table from the state file, clamping times a backward clock put too far
// ahead; any entry this package would not have written makes the whole file corrupt.
func (t *lockTable) parse(data []byte, now time.Time) error {
	var st lockStateJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("%w: %w", errCorruptLocks, err)
	}
	if st.Version != lockStateVersion || len(st.Entries) > maxLockKeys {
		return fmt.Errorf("%w: version %d with %d entries", errCorruptLocks, st.Version, len(st.Entries))
	}
	t.allLockedUntil = clampLock(st.AllLockedUntil, now)
	for _, e := range st.Entries {
		k := lockKey{user: e.User, logon: e.Logon}
		if !validLogon(k.logon) || (k.user != "" && !validUser(k.user)) || len(e.Failures) > k.ceiling() {
			return fmt.Errorf("%w: entry %q/%q", errCorruptLocks, e.User, e.Logon)
		}
		if _, dup := t.entries[k]; dup {
			return fmt.Errorf("%w: entry %q/%q listed twice", errCorruptLocks, e.User, e.Logon)
		}
		entry := &lockEntry{lockedUntil: clampLock(e.LockedUntil, now)}
		for _, f := range e.Failures {
			entry.failures = append(entry.failures, f.UTC())
			if f.After(now) {
				entry.failures[len(entry.failures)-1] = now
			}
		}
		slices.SortFunc(entry.failures, time.Time.Compare)
		t.entries[k] = entry
	}
	return nil
}

// clampLock bounds a stored lock end to one full lockout from now.
func clampLock(until, now time.Time) time.Time {
	if max := lockEnd(now); until.After(max) {
		return max
	}
	return until.UTC()
}

// lockEnd is when a lock set at now lifts: PasswordLockout later, rounded up to lockGranularity.
func lockEnd(now time.Time) time.Time {
	end := now.Add(PasswordLockout).UTC()
	if t := end.Truncate(lockGranularity); t.Before(end) {
		return t.Add(lockGranularity)
	}
	return end
}

// validUser reports whether a Portcullis user name may be counted (and survive the state file).
func validUser(user string) bool {
	return user != "" && len(user) <= maxUserBytes && utf8.ValidString(user) && !strings.ContainsFunc(user, unicode.IsControl)
}

// prune drops failures older than PasswordFailureWindow, lifted locks, and keys left empty.
func (t *lockTable) prune(now time.Time) {
	cut := now.Add(-PasswordFailureWindow)
	if !now.Before(t.allLockedUntil) {
		t.allLockedUntil = time.Time{}
	}
	for k, e := range t.entries {
		e.failures = slices.DeleteFunc(e.failures, func(f time.Time) bool { return !f.After(cut) })
		if !now.Before(e.lockedUntil) {
			e.lockedUntil = time.Time{}
		}
		if len(e.failures) == 0 && e.lockedUntil.IsZero() && e.pending == 0 {
			delete(t.entries, k)
		}
	}
}

// lockedUntil is when k's lock lifts, or zero.
func (t *lockTable) lockedUntil(k lockKey) time.Time {
	if e := t.entries[k]; e != nil {
		return e.lockedUntil
	}
	return time.Time{}
}

// entry returns k's entry, adding it.
func (t *lockTable) entry(k lockKey) *lockEntry {
	e := t.entries[k]
	if e == nil {
		e = &lockEntry{}
		t.entries[k] = e
	}
	return e
}

// fail records a failure of k at now, locking it when it reaches its ceiling.
func (t *lockTable) fail(k lockKey, now time.Time) {
	e := t.entry(k)
	if now.Before(e.lockedUntil) {
		return // cannot happen: a locked key admits no attempt, and a lock leaves none pending
	}
	e.failures = append(e.failures, now)
	if len(e.failures) >= k.ceiling() {
		e.lockedUntil, e.failures = lockEnd(now), nil
	}
}

// save replaces the state file with the table.
func (t *lockTable) save() error {
	st := lockStateJSON{Version: lockStateVersion, AllLockedUntil: t.allLockedUntil, Entries: []lockEntryJSON{}}
	for k, e := range t.entries {
		if len(e.failures) > 0 || !e.lockedUntil.IsZero() {
			st.Entries = append(st.Entries, lockEntryJSON{User: k.user, Logon: k.logon, Failures: e.failures, LockedUntil: e.lockedUntil})
		}
	}
	slices.SortFunc(st.Entries, func(a, b lockEntryJSON) int {
		return cmp.Or(strings.Compare(a.Logon, b.Logon), strings.Compare(a.User, b.User))
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		return fmt.Errorf("hostauth: password lock state: %w", err)
	}
	if buf.Len() > maxLockStateBytes {
		return fmt.Errorf("hostauth: password lock state: %d bytes exceed %d", buf.Len(), maxLockStateBytes)
	}
	if err := atomicfile.Write(t.path, buf.Bytes(), lockStateMode); err != nil {
		return fmt.Errorf("hostauth: password lock state: %w", err)
	}
	return nil
}
