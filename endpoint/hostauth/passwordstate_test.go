package hostauth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPasswordLockTableIsBounded(t *testing.T) {
	r := newRig(t)
	p := r.open()
	// Names as long as allowed and as costly to escape as possible: the file stays bounded.
	name := func(i, n int, pad string) string {
		s := fmt.Sprint(i)
		return s + strings.Repeat(pad, n-len(s))
	}
	user := func(i int) string { return name(i, maxUserBytes, `"`) }
	logon := func(i int) string { return name(i, maxLogonBytes, `\`) }
	// Each failure of a new user on a new logon adds two keys: theirs and the logon's.
	for i := range maxLockKeys / 2 {
		if err := try(p, user(i), logon(i), "wrong"); !errHas(err, "wrong logon or password") {
			t.Fatalf("failure %d: %v", i, err)
		}
		r.now = r.now.Add(time.Second)
	}
	r.verifications()
	if err := try(p, user(-1), logon(-1), "wrong"); !errHas(err, "too many logons are failing") {
		t.Fatalf("a new key in a full table: %v", err)
	}
	if err := try(p, "bob", "maint", "right"); !errHas(err, "too many logons are failing") {
		t.Fatalf("a new key in a full table, right password: %v", err)
	}
	if got := r.verifications(); len(got) != 0 {
		t.Errorf("a full table verified %d passwords, want none", len(got))
	}
	if err := try(p, user(0), logon(0), "wrong"); !errHas(err, "wrong logon or password") {
		t.Errorf("a tracked key in a full table: %v", err)
	}
	if n := len(p.locks.entries); n != maxLockKeys {
		t.Errorf("the table holds %d keys, want %d", n, maxLockKeys)
	}
	st, err := os.Stat(filepath.Join(r.stateDir, LockStateFile))
	if err != nil || st.Size() > maxLockStateBytes {
		t.Fatalf("state file: %v bytes (%v), bound %d", st.Size(), err, maxLockStateBytes)
	}
	if p = r.open(); len(p.locks.entries) != maxLockKeys || p.locks.entries[lockKey{user: user(7), logon: logon(7)}] == nil {
		t.Fatalf("the full table read back with %d keys", len(p.locks.entries))
	}
	// Failures age out: the first half's window passes and they are pruned.
	r.now = start.Add(PasswordFailureWindow + maxLockKeys/4*time.Second)
	if err := try(p, "bob", "maint", "right"); err != nil {
		t.Fatalf("once failures aged out: %v", err)
	}
	if n := len(p.locks.entries); n > maxLockKeys/2 {
		t.Errorf("the table holds %d keys after pruning", n)
	}
}

func TestCorruptLockStateLocksEveryLogon(t *testing.T) {
	valid := `{"version":1,"entries":[{"user":"alice","logon":"maint","failures":["2026-03-02T09:59:00Z"]}]}`
	tests := []struct {
		name, state string
	}{
		{"not JSON", "{"},
		{"an unknown version", strings.Replace(valid, `"version":1`, `"version":7`, 1)},
		{"an unknown field", strings.Replace(valid, `"logon"`, `"shell":"x","logon"`, 1)},
		{"a key listed twice", strings.Replace(valid, `]}]}`, `]},{"user":"alice","logon":"maint"}]}`, 1)},
		{"an invalid logon", strings.Replace(valid, `"maint"`, `"ma int"`, 1)},
		{"more failures than the ceiling", strings.Replace(valid, `"2026-03-02T09:59:00Z"`, strings.Repeat(`"2026-03-02T09:59:00Z",`, PasswordFailuresAllowed)+`"2026-03-02T09:59:00Z"`, 1)},
		{"too large", valid + strings.Repeat(" ", maxLockStateBytes)},
	}
	lifts := start.Add(PasswordLockout)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			path := filepath.Join(r.stateDir, LockStateFile)
			if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.state), 0o600); err != nil {
				t.Fatal(err)
			}
			p := r.open()
			want := "every logon is locked until " + lifts.Format(time.RFC3339)
			if err := try(p, "bob", "ops", "two"); !errHas(err, want) {
				t.Fatalf("after a corrupt state file: %v; want %q", err, want)
			}
			if aside, err := os.ReadFile(path + corruptSuffix); err != nil || !bytes.Equal(aside, []byte(tt.state)) {
				t.Errorf("the corrupt file was not kept aside: %v", err)
			}
			r.now = lifts.Add(-time.Second)
			if err := try(r.open(), "bob", "ops", "two"); !errHas(err, want) {
				t.Fatalf("after a restart: %v; want %q", err, want)
			}
			r.now = lifts
			if err := try(r.open(), "bob", "ops", "two"); err != nil {
				t.Fatalf("at %v: %v", lifts, err)
			}
		})
	}
	t.Run("a valid file is read", func(t *testing.T) {
		r := newRig(t)
		if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(r.stateDir, LockStateFile), []byte(valid), 0o600); err != nil {
			t.Fatal(err)
		}
		if e := r.open().locks.entries[lockKey{user: "alice", logon: "maint"}]; e == nil || len(e.failures) != 1 {
			t.Fatalf("alice's failure was not read: %+v", e)
		}
	})
	t.Run("an unreadable file stops the start", func(t *testing.T) {
		r := newRig(t)
		if err := os.MkdirAll(filepath.Join(r.stateDir, LockStateFile), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := NewPassword(r.file, r.stateDir, nil, nil); err == nil || !strings.Contains(err.Error(), "password lock state") {
			t.Fatalf("NewPassword = %v; want an error naming the lock state", err)
		}
	})
	t.Run("a lock a clock jump put far ahead is cut to one lockout", func(t *testing.T) {
		r := newRig(t)
		if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
			t.Fatal(err)
		}
		state := `{"version":1,"entries":[{"user":"alice","logon":"maint","locked_until":"2036-03-02T10:00:00Z"}]}`
		if err := os.WriteFile(filepath.Join(r.stateDir, LockStateFile), []byte(state), 0o600); err != nil {
			t.Fatal(err)
		}
		want := "locked until " + lifts.Format(time.RFC3339)
		if err := try(r.open(), "alice", "maint", "right"); !errHas(err, want) {
			t.Fatalf("%v; want %q", err, want)
		}
	})
}
