package hostauth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rig is a password scheme on a password file of fake hashes ("plain:PASSWORD"), with a
// settable clock and a verifier that records which hashes it checked.
type rig struct {
	t        *testing.T
	file     string
	stateDir string
	now      time.Time

	mu       sync.Mutex
	verified []string
	// argon2 makes the dummy hash really verified (slow); otherwise it fails at once.
	argon2 bool
	// hold, when set, blocks the next verification until it is closed, after telling entered.
	hold, entered chan struct{}
}

// start is a whole second, so that a lock's end needs no rounding.
var start = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newRig makes the files: logon maint has password "right", logon ops "two".
func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, file: filepath.Join(dir, "passwd"), stateDir: filepath.Join(dir, "state"), now: start}
	if err := os.WriteFile(r.file, []byte("# test\nmaint plain:right\nops plain:two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// open starts a scheme on the rig's files, as a (re)started Host does.
func (r *rig) open() *Password {
	r.t.Helper()
	p, err := NewPassword(r.file, r.stateDir, func() time.Time { return r.now }, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	p.verify = r.verify
	return p
}

// verify checks the fake hashes, and the dummy hash (really only with argon2 set).
func (r *rig) verify(hash, password string) (bool, error) {
	r.mu.Lock()
	r.verified = append(r.verified, hash)
	hold, entered := r.hold, r.entered
	r.hold, r.entered = nil, nil
	r.mu.Unlock()
	if hold != nil {
		close(entered)
		<-hold
	}
	if want, ok := strings.CutPrefix(hash, "plain:"); ok {
		return want == password, nil
	}
	if hash == dummyHash && !r.argon2 {
		return false, nil
	}
	return VerifyPassword(hash, password)
}

// holdNext makes the next verification wait for release; it returns a channel closed once
// that verification started.
func (r *rig) holdNext(release chan struct{}) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold, r.entered = release, make(chan struct{})
	return r.entered
}

// verifications returns and forgets the hashes verified so far.
func (r *rig) verifications() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.verified
	r.verified = nil
	return v
}

// try is one session of user answering logon and password.
func try(p *Password, user, logon, password string) error {
	ask := func(context.Context, string, []string, []bool) ([]string, error) {
		return []string{logon, password}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no failure delay in the tests
	return p.Authorize(ctx, &Request{User: user, Host: "kiosk-1", Ask: ask})
}

// errHas reports whether err says want ("" wants no error).
func errHas(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}

func TestPasswordHashes(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %q is not argon2id with the documented parameters", hash)
	}
	tests := []struct {
		name, hash, password string
		ok                   bool
		err                  error
	}{
		{"right password", hash, "correct horse", true, nil},
		{"wrong password", hash, "correct horsE", false, nil},
		{"the dummy hash matches no password", dummyHash, "", false, nil},
		{"not argon2id", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x", false, ErrBadHash},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x", false, ErrBadHash},
		{"garbage", "hunter2", "hunter2", false, ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, tt.password)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Errorf("VerifyPassword = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
	// The dummy hash costs what a new hash costs: same parameters, salt and key lengths.
	parts, dummy := strings.Split(hash, "$"), strings.Split(dummyHash, "$")
	if len(dummy) != len(parts) || dummy[3] != parts[3] || len(dummy[4]) != len(parts[4]) || len(dummy[5]) != len(parts[5]) {
		t.Errorf("dummy hash %q does not have the shape of new hashes %q", dummyHash, hash)
	}
}

func TestPasswordFileAndLockout(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	for _, step := range []struct{ logon, password string }{{"maint", "one"}, {"ops", "two"}, {"maint", "three"}} {
		if err := SetPassword(file, step.logon, step.password); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode: %v %v", st, err)
	}
	data, _ := os.ReadFile(file)
	if strings.Count(string(data), "maint ") != 1 || strings.Contains(string(data), "three") {
		t.Fatalf("password file:\n%s", data)
	}
	for _, logon := range []string{"bad logon", "bad\xfflogon", ""} {
		if err := SetPassword(file, logon, "x"); err == nil {
			t.Errorf("logon %q was accepted", logon)
		}
	}
	now := start
	p, err := NewPassword(file, filepath.Join(dir, "state"), func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := try(p, "alice@example.com", "maint", "three"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	for range PasswordFailuresAllowed {
		if err := try(p, "alice@example.com", "maint", "wrong"); !errHas(err, "wrong logon or password") {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := try(p, "alice@example.com", "maint", "three"); !errHas(err, "locked until") {
		t.Fatalf("after %d failures the right password gives %v, want a lockout", PasswordFailuresAllowed, err)
	}
	now = now.Add(PasswordLockout)
	if err := try(p, "alice@example.com", "maint", "three"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	if err := p.Authorize(context.Background(), &Request{User: "alice@example.com"}); err == nil {
		t.Error("a connection that cannot ask was allowed")
	}
	if err := try(p, "", "maint", "three"); err == nil {
		t.Error("a session without a subject was allowed")
	}
}

func TestUnknownLogonCostsWhatAWrongPasswordCosts(t *testing.T) {
	tests := []struct {
		name, logon, password string
		wantHash              string // the hash verified
		wantErr               string
	}{
		{"known logon, right password", "maint", "right", "plain:right", ""},
		{"known logon, wrong password", "maint", "wrong", "plain:right", "wrong logon or password for logon maint"},
		{"unknown logon", "nobody", "right", dummyHash, "wrong logon or password for logon nobody"},
		{"unknown logon, empty password", "root", "", dummyHash, "wrong logon or password for logon root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.argon2 = true
			p := r.open()
			err := try(p, "alice@example.com", tt.logon, tt.password)
			if !errHas(err, tt.wantErr) {
				t.Fatalf("Authorize = %v; want %q", err, tt.wantErr)
			}
			if got := r.verifications(); len(got) != 1 || got[0] != tt.wantHash {
				t.Errorf("verified %q; want one argon2id verification of %q", got, tt.wantHash)
			}
		})
	}
}
