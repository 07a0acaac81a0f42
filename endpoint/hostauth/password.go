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
	"os"
	"strings"
	"sync"
	"time"

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
	// PasswordFailuresAllowed is how many failed attempts a logon may make per PasswordLockout.
	PasswordFailuresAllowed = 5
	// PasswordLockout is the window over which failures count and how long a lockout lasts.
	PasswordLockout = 15 * time.Minute
	// passwordFailureDelay is waited after each failure before the refusal is sent.
	passwordFailureDelay = time.Second
	// maxLogonBytes bounds a logon name.
	maxLogonBytes = 64
	// passwordFileMode keeps the hashes readable by the agent's user only.
	passwordFileMode = 0o600
)

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
	return logon != "" && len(logon) <= maxLogonBytes && !strings.ContainsFunc(logon, func(r rune) bool {
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
// checks them against File. Each logon may fail PasswordFailuresAllowed times per
// PasswordLockout; then it is locked for PasswordLockout.
type Password struct {
	// File is the password file. Required.
	File string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time // logon -> recent failures
}

// Authorize asks for the logon and the password and checks them.
func (p *Password) Authorize(ctx context.Context, req *Request) error {
	if req.Ask == nil {
		return errors.New("this connection cannot ask for a password")
	}
	answers, err := req.Ask(ctx, "Host logon for "+req.Host, []string{"Logon: ", "Password: "}, []bool{true, false})
	if err != nil {
		return fmt.Errorf("asking for the password: %w", err)
	}
	if len(answers) != 2 || !validLogon(answers[0]) {
		return errors.New("no valid logon given")
	}
	logon := answers[0]
	if until, locked := p.locked(logon); locked {
		return fmt.Errorf("too many failed attempts for logon %s; locked until %s", logon, until.UTC().Format(time.RFC3339))
	}
	hash, err := lookupHash(p.File, logon)
	if err != nil {
		return err
	}
	ok := false
	if hash != "" {
		if ok, err = VerifyPassword(hash, answers[1]); err != nil {
			return fmt.Errorf("logon %s: %w", logon, err)
		}
	}
	if !ok {
		p.fail(logon)
		sleepCtx(ctx, passwordFailureDelay)
		return fmt.Errorf("wrong logon or password for logon %s", logon)
	}
	return nil
}

func (p *Password) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// recent returns logon's failures within PasswordLockout; p.mu is held.
func (p *Password) recent(logon string) []time.Time {
	cut := p.now().Add(-PasswordLockout)
	kept := p.failures[logon][:0]
	for _, t := range p.failures[logon] {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		delete(p.failures, logon)
		return nil
	}
	p.failures[logon] = kept
	return kept
}

// locked reports whether logon is locked out, and until when.
func (p *Password) locked(logon string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	recent := p.recent(logon)
	if len(recent) < PasswordFailuresAllowed {
		return time.Time{}, false
	}
	return recent[len(recent)-1].Add(PasswordLockout), true
}

// fail records a failed attempt.
func (p *Password) fail(logon string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures == nil {
		p.failures = map[string][]time.Time{}
	}
	p.failures[logon] = append(p.recent(logon), p.now())
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
