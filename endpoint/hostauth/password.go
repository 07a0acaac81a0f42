package hostauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/atomicfile"
	"golang.org/x/crypto/argon2"
)

// The password file holds one host-local logon per line, "LOGON HASH", HASH in the PHC string
// format of argon2id:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt, base64 raw std>$<key, base64 raw std>
//
// Lines starting with # are comments. `portcullis host passwd` writes it (mode 0600).
const (
	// argon2id parameters of new hashes (RFC 9106's second recommended option).
	argonTime, argonMemoryKiB, argonThreads, argonKeyLen, argonSaltLen = 3, 64 * 1024, 4, 32, 16
	// maxArgonMemoryKiB bounds the memory a stored hash may demand (a tampered file must not
	// make every attempt allocate gigabytes).
	maxArgonMemoryKiB = 1 << 20
	// maxArgonTime bounds a stored hash's passes.
	maxArgonTime = 16
	// PasswordFailuresAllowed is the per-user ceiling: failures of one Portcullis user against
	// one logon per PasswordFailureWindow before that user is locked out of that logon.
	PasswordFailuresAllowed = 5
	// PasswordLockout is how long a lock lasts, from the failure that set it.
	PasswordLockout = 15 * time.Minute
	// passwordFailureDelay is waited after each failure before the refusal is sent.
	passwordFailureDelay = time.Second
	// maxLogonBytes bounds a logon name.
	maxLogonBytes = 64
	// passwordFileMode keeps the hashes readable by the agent's user only.
	passwordFileMode = 0o600
)

// dummyHash is verified for a logon the file does not hold, with the parameters of new hashes,
// so that an unknown logon takes as long as a wrong password (no password matches it: its key
// is argon2id of 32 random bytes, thrown away).
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=4$DKXu5ZjzQr8ecVjfJcXoiQ$9SuK2dy2c5/Dz0U6BC2cw4FF2mojN+hnaGeIRGR+av8"

// ErrBadHash reports a password file entry that is not an argon2id PHC string this package accepts.
var ErrBadHash = errors.New("hostauth: bad argon2id hash")

// HashPassword returns the argon2id PHC string of password with a fresh salt.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hostauth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC string hash.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, fmt.Errorf("%w: not $argon2id$v=%d$...", ErrBadHash, argon2.Version)
	}
	var mem, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil {
		return false, fmt.Errorf("%w: parameters %q", ErrBadHash, parts[3])
	}
	if mem == 0 || mem > maxArgonMemoryKiB || passes == 0 || passes > maxArgonTime || threads == 0 {
		return false, fmt.Errorf("%w: parameters %q out of range", ErrBadHash, parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false, fmt.Errorf("%w: salt or key", ErrBadHash)
	}
	got := argon2.IDKey([]byte(password), salt, passes, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// validLogon reports whether a logon name may stand in the password file.
func validLogon(logon string) bool {
	return logon != "" && len(logon) <= maxLogonBytes && utf8.ValidString(logon) && !strings.ContainsFunc(logon, func(r rune) bool {
		return r <= ' ' || r == '#' || r == 0x7f
	})
}

// lookupHash returns the hash of logon in the password file ("" when absent).
func lookupHash(file, logon string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("hostauth: password file: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, hash, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if ok && !strings.HasPrefix(name, "#") && name == logon {
			return strings.TrimSpace(hash), nil
		}
	}
	return "", nil
}

// SetPassword sets (or, with an empty password, removes) logon's hash in the password file,
// keeping the other entries; the file is replaced atomically with mode 0600.
func SetPassword(file, logon, password string) error {
	if !validLogon(logon) {
		return fmt.Errorf("hostauth: logon %q must be 1-%d printable characters without spaces or #", logon, maxLogonBytes)
	}
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("hostauth: password file: %w", err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if name, _, _ := strings.Cut(strings.TrimSpace(sc.Text()), " "); name == logon {
			continue
		}
		out.WriteString(sc.Text() + "\n")
	}
	if password != "" {
		hash, err := HashPassword(password)
		if err != nil {
			return err
		}
		out.WriteString(logon + " " + hash + "\n")
	}
	if err := atomicfile.Write(file, out.Bytes(), passwordFileMode); err != nil {
		return fmt.Errorf("hostauth: password file: %w", err)
	}
	return nil
}

// Password asks the Guest for a host-local logon and password over the encrypted channel and
// checks them against File. Failures count per (Portcullis user, logon) and per logon for all
// users together; a key at its ceiling is locked for PasswordLockout (see LockStateFile). The
// lock table survives restarts in the Host's state dir.
type Password struct {
	file string
	now  func() time.Time
	log  *slog.Logger
	// verify checks a password against a hash: VerifyPassword, or a test's wrapper.
	verify func(hash, password string) (bool, error)

	mu    sync.Mutex
	locks *lockTable
}

// NewPassword returns the password scheme for the password file, keeping its lock table in
// stateDir (created with mode 0700). now is the clock (nil: time.Now); log receives the
// table's write errors (nil discards them).
func NewPassword(file, stateDir string, now func() time.Time, log *slog.Logger) (*Password, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Password{file: file, now: now, log: log, verify: VerifyPassword}
	locks, err := openLockTable(stateDir, p.clock(), log)
	if err != nil {
		return nil, err
	}
	p.locks = locks
	return p, nil
}

// clock is the wall-clock time in UTC, without a monotonic reading (it is persisted).
func (p *Password) clock() time.Time { return p.now().UTC() }

// Authorize asks for the logon and the password and checks them.
func (p *Password) Authorize(ctx context.Context, req *Request) error {
	if req.Ask == nil {
		return errors.New("this connection cannot ask for a password")
	}
	if !validUser(req.User) {
		return fmt.Errorf("the subject %q cannot use a password (1-%d printable characters)", req.User, maxUserBytes)
	}
	answers, err := req.Ask(ctx, "Host logon for "+req.Host, []string{"Logon: ", "Password: "}, []bool{true, false})
	if err != nil {
		return fmt.Errorf("asking for the password: %w", err)
	}
	if len(answers) != 2 || !validLogon(answers[0]) {
		return errors.New("no valid logon given")
	}
	a := attempt{user: lockKey{user: req.User, logon: answers[0]}, logon: lockKey{logon: answers[0]}}
	if err := p.begin(a); err != nil {
		return err
	}
	ok, err := p.check(a.logon.logon, answers[1])
	if err != nil {
		_ = p.end(a, outcomeAborted) // changes nothing to persist
		return err
	}
	if !ok {
		if err := p.end(a, outcomeFailed); err != nil {
			p.log.Error("password failure not recorded", "user", req.User, "logon", a.logon.logon, "err", err)
		}
		sleepCtx(ctx, passwordFailureDelay)
		return fmt.Errorf("wrong logon or password for logon %s", a.logon.logon)
	}
	if err := p.end(a, outcomeAllowed); err != nil {
		p.log.Error("password success not recorded", "user", req.User, "logon", a.logon.logon, "err", err)
	}
	return nil
}

// check verifies password for logon, against the dummy hash when the file lacks the logon.
func (p *Password) check(logon, password string) (bool, error) {
	hash, err := lookupHash(p.file, logon)
	if err != nil {
		return false, err
	}
	known := hash != ""
	if !known {
		hash = dummyHash
	}
	ok, err := p.verify(hash, password)
	if err != nil {
		return false, fmt.Errorf("logon %s: %w", logon, err)
	}
	return ok && known, nil
}

// attempt is one password check's two keys.
type attempt struct{ user, logon lockKey }

// outcome is how an attempt ended.
type outcome int

// The outcomes of an attempt.
const (
	outcomeAllowed outcome = iota // the right password: the user's failures are forgotten
	outcomeFailed                 // a wrong logon or password: counts under both keys
	outcomeAborted                // the check could not be made: counts under neither
)

// begin refuses an attempt under a lock, or one that might exceed a ceiling with the attempts
// already being checked; otherwise it reserves the attempt under both keys.
func (p *Password) begin(a attempt) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	t := p.locks
	t.prune(now)
	if !t.allLockedUntil.IsZero() {
		return fmt.Errorf("the Host's password lock state was corrupt; every logon is locked until %s", stamp(t.allLockedUntil))
	}
	if until := t.lockedUntil(a.logon); !until.IsZero() {
		return fmt.Errorf("too many failed attempts by all users for logon %s; it is locked for everyone until %s", a.logon.logon, stamp(until))
	}
	if until := t.lockedUntil(a.user); !until.IsZero() {
		return fmt.Errorf("too many failed attempts by %s for logon %s; locked until %s", a.user.user, a.logon.logon, stamp(until))
	}
	for _, k := range []lockKey{a.user, a.logon} {
		if e := t.entries[k]; e != nil && len(e.failures)+e.pending >= k.ceiling() {
			return fmt.Errorf("other attempts for logon %s are being checked; try again in a moment", a.logon.logon)
		}
	}
	adding := 0
	for _, k := range []lockKey{a.user, a.logon} {
		if t.entries[k] == nil {
			adding++
		}
	}
	if len(t.entries)+adding > maxLockKeys {
		return fmt.Errorf("too many logons are failing on this Host (%d tracked); try again within %v", len(t.entries), PasswordFailureWindow)
	}
	t.entry(a.user).pending++
	t.entry(a.logon).pending++
	return nil
}

// end releases the attempt's reservation, records its outcome and, when that changed the
// table, persists it.
func (p *Password) end(a attempt, o outcome) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	t := p.locks
	t.entry(a.user).pending--
	t.entry(a.logon).pending--
	changed := false
	switch o {
	case outcomeFailed:
		t.fail(a.user, now)
		t.fail(a.logon, now)
		changed = true
	case outcomeAllowed:
		if e := t.entries[a.user]; len(e.failures) > 0 {
			e.failures, changed = nil, true
		}
	}
	t.prune(now)
	if !changed {
		return nil
	}
	return t.save()
}

// stamp formats a lock's end as it is announced.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
