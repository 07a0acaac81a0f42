package hostauth

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestPasswordLockLastsExactlyItsAnnouncedTime(t *testing.T) {
	tests := []struct {
		name    string
		first   time.Time     // the first failure
		gap     time.Duration // between failures
		lifts   time.Time     // announced, and when the right password is admitted again
		oldLift time.Time     // when the sliding window used to lift it (still locked then)
	}{
		{"failures in a burst", start, 0, start.Add(PasswordLockout), time.Time{}},
		{"failures spread over ten minutes", start, 150 * time.Second, start.Add(10*time.Minute + PasswordLockout), start.Add(PasswordLockout + time.Second)},
		{"a lock set between two seconds ends on the next", start.Add(300 * time.Millisecond), 0, start.Add(PasswordLockout + time.Second), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			p := r.open()
			r.now = tt.first
			for i := range PasswordFailuresAllowed {
				if i > 0 {
					r.now = r.now.Add(tt.gap)
				}
				if err := try(p, "alice@example.com", "maint", "wrong"); !errHas(err, "wrong logon or password") {
					t.Fatalf("failure %d: %v", i+1, err)
				}
			}
			announced := "locked until " + tt.lifts.Format(time.RFC3339)
			for _, at := range []time.Time{r.now, tt.oldLift, tt.lifts.Add(-time.Nanosecond)} {
				if at.IsZero() {
					continue
				}
				r.now = at
				if err := try(p, "alice@example.com", "maint", "right"); !errHas(err, announced) {
					t.Fatalf("at %v: %v; want %q", at, err, announced)
				}
			}
			r.verifications()
			r.now = tt.lifts
			if err := try(p, "alice@example.com", "maint", "right"); err != nil {
				t.Fatalf("at the announced %v: %v", tt.lifts, err)
			}
			if got := r.verifications(); len(got) != 1 {
				t.Errorf("verified %d times, want a lock to refuse without verifying", len(got))
			}
		})
	}
}

func TestPasswordLockSurvivesARestart(t *testing.T) {
	users := func(n int) []string {
		var u []string
		for i := range n {
			u = append(u, fmt.Sprintf("user%d@example.com", i))
		}
		return u
	}
	tests := []struct {
		name     string
		failing  []string // users failing once each on maint, in order, before the restart
		after    string   // user failing once more after the restart ("" none)
		want     string   // what alice's right password gets after that
		lockedBy string   // "" or the user whose lock lifts at start+PasswordLockout
	}{
		{"a user's lock", []string{"alice", "alice", "alice", "alice", "alice"}, "", "locked until " + start.Add(PasswordLockout).Format(time.RFC3339), "alice"},
		{"failures under the ceiling", []string{"alice", "alice", "alice", "alice"}, "alice", "locked until", "alice"},
		{"a logon locked for everyone", users(PasswordLogonFailuresAllowed), "", "locked for everyone until " + start.Add(PasswordLockout).Format(time.RFC3339), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			p := r.open()
			for _, u := range tt.failing {
				if err := try(p, u, "maint", "wrong"); !errHas(err, "wrong logon or password") {
					t.Fatalf("%s: %v", u, err)
				}
			}
			p = r.open() // the Host restarts
			if tt.after != "" {
				if err := try(p, tt.after, "maint", "wrong"); !errHas(err, "wrong logon or password") {
					t.Fatalf("after the restart: %v", err)
				}
			}
			if err := try(p, "alice", "maint", "right"); !errHas(err, tt.want) {
				t.Fatalf("after the restart: %v; want %q", err, tt.want)
			}
			st, err := os.Stat(filepath.Join(r.stateDir, LockStateFile))
			if err != nil {
				t.Fatal(err)
			}
			if runtime.GOOS != "windows" && st.Mode().Perm() != lockStateMode {
				t.Errorf("lock state mode %v, want %v", st.Mode().Perm(), os.FileMode(lockStateMode))
			}
			r.now = start.Add(PasswordLockout)
			p = r.open()
			if err := try(p, "alice", "maint", "right"); err != nil {
				t.Fatalf("once the lock lifted, after another restart: %v", err)
			}
		})
	}
}

func TestPasswordFailuresCountPerUserAndPerLogon(t *testing.T) {
	r := newRig(t)
	p := r.open()
	type step struct {
		user, logon, password string
		times                 int // 0 means once
		want                  string
	}
	steps := []step{
		{user: "alice", logon: "maint", password: "wrong", times: PasswordFailuresAllowed - 1, want: "wrong logon or password"},
		{user: "alice", logon: "maint", password: "right", want: ""}, // forgets alice's failures
		{user: "alice", logon: "maint", password: "wrong", times: PasswordFailuresAllowed, want: "wrong logon or password"},
		{user: "alice", logon: "maint", password: "right", want: "too many failed attempts by alice for logon maint; locked until"},
		{user: "bob", logon: "maint", password: "right", want: ""}, // alice's lock is hers
		{user: "alice", logon: "ops", password: "two", want: ""},   // and only on maint
		{user: "mallory", logon: "maint", password: "wrong", times: PasswordFailuresAllowed - 1, want: "wrong logon or password"},
		{user: "trent", logon: "maint", password: "wrong", times: PasswordFailuresAllowed - 1, want: "wrong logon or password"},
		// alice's 4 + 5, mallory's and trent's 4 each: 17 failures on maint, none over its user's ceiling
		{user: "oscar", logon: "maint", password: "wrong", times: PasswordLogonFailuresAllowed - 17 - 1, want: "wrong logon or password"},
		{user: "bob", logon: "maint", password: "right", want: ""},
		{user: "peggy", logon: "maint", password: "wrong", want: "wrong logon or password"}, // the 20th
		{user: "bob", logon: "maint", password: "right", want: "too many failed attempts by all users for logon maint; it is locked for everyone until"},
		{user: "carol", logon: "maint", password: "right", want: "locked for everyone"},
		{user: "carol", logon: "ops", password: "two", want: ""},
	}
	for i, s := range steps {
		for range max(s.times, 1) {
			if err := try(p, s.user, s.logon, s.password); !errHas(err, s.want) {
				t.Fatalf("step %d (%s on %s): %v; want %q", i, s.user, s.logon, err, s.want)
			}
		}
	}
}

func TestConcurrentAttemptsCannotExceedTheCeiling(t *testing.T) {
	r := newRig(t)
	p := r.open()
	for range PasswordFailuresAllowed - 1 {
		if err := try(p, "alice", "maint", "wrong"); !errHas(err, "wrong logon or password") {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	entered := r.holdNext(release)
	last := make(chan error, 1)
	go func() { last <- try(p, "alice", "maint", "wrong") }() // the 5th, held in verification
	<-entered
	r.verifications()
	if err := try(p, "alice", "maint", "right"); !errHas(err, "being checked") {
		t.Errorf("a 6th attempt while the 5th is checked: %v", err)
	}
	if err := try(p, "bob", "maint", "right"); err != nil {
		t.Errorf("another user meanwhile: %v", err)
	}
	if got := r.verifications(); len(got) != 1 {
		t.Errorf("verified %d passwords, want only bob's: the refused attempt must not be verified", len(got))
	}
	close(release)
	if err := <-last; !errHas(err, "wrong logon or password") {
		t.Fatal(err)
	}
	if err := try(p, "alice", "maint", "right"); !errHas(err, "locked until") {
		t.Errorf("after the 5th failure: %v", err)
	}
}
