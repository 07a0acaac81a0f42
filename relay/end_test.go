package relay

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/slowconn"
)

// wantClosed checks that the half's connection ends (the CS cut it).
func wantClosed(t *testing.T, conn interface {
	SetReadDeadline(time.Time) error
	Read([]byte) (int, error)
}, who string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadAll(conn); err != nil && slowconn.IsTimeout(err) {
		t.Fatalf("the %s half is still open", who)
	}
}

func TestEndSessionCutsBothHalvesAndReportsWhy(t *testing.T) {
	f := newFixture(t, nil)
	guest, host := f.pair(t, "s-locked")
	f.waitFor(t, "the session to be live", func(s Stats) bool { return s.Live == 1 })
	if ids := f.srv.SessionIDs(); !slices.Equal(ids, []string{"s-locked"}) {
		t.Errorf("SessionIDs = %v, want the live session", ids)
	}
	if !f.srv.EndSession("s-locked", "locked: offboarding") {
		t.Fatal("EndSession does not find the live session")
	}
	wantClosed(t, guest, "guest")
	wantClosed(t, host, "host")
	if r := f.report(t); r.SessionID != "s-locked" || r.Reason != "locked: offboarding" {
		t.Errorf("report = %+v, want the lock's reason", r)
	}
	if f.srv.EndSession("s-locked", "again") || f.srv.EndSession("s-unknown", "x") {
		t.Error("EndSession reports a session the CS no longer holds")
	}
	f.waitFor(t, "the session to be gone", func(s Stats) bool { return s.Live == 0 })
	if ids := f.srv.SessionIDs(); ids == nil || len(ids) != 0 {
		t.Errorf("SessionIDs = %#v, want an empty list", ids)
	}
}

func TestEndSessionDropsAHalfStillWaitingForItsPeer(t *testing.T) {
	for _, c := range []struct {
		reason string
		want   access.Code // the refusal the waiting half receives; "" for a plain close
	}{
		{"locked: x", ""},
		{string(access.ErrHostNotAnswering), access.ErrHostNotAnswering},
	} {
		t.Run(c.reason, func(t *testing.T) {
			f := newFixture(t, nil)
			guestCh := f.dialAsync(t, f.ticketFor(t, access.RoleGuest, "s-waiting"))
			f.waitFor(t, "the guest half to wait", func(s Stats) bool { return s.Pending == 1 })
			if ids := f.srv.SessionIDs(); !slices.Equal(ids, []string{"s-waiting"}) {
				t.Errorf("SessionIDs = %v, want the waiting session", ids)
			}
			if !f.srv.EndSession("s-waiting", c.reason) {
				t.Fatal("EndSession does not find the waiting half")
			}
			r := <-guestCh
			if r.err == nil {
				t.Fatal("the waiting half was paired after its session ended")
			}
			if got, _ := access.Find(r.err); got != c.want {
				t.Errorf("the waiting half got %v (code %q), want code %q", r.err, got, c.want)
			}
			if st := f.srv.Stats(); st.Pending != 0 || st.Live != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestTheCSEndsASessionAtItsMaximumDuration(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	tickets := map[access.Role]string{}
	for _, role := range []access.Role{access.RoleHost, access.RoleGuest} {
		c := claimsAt(role, "s-short", now)
		c.Obligations.MaxDurationSeconds = 1
		tickets[role] = mint(t, f.signer, c)
	}
	hostCh := f.dialAsync(t, tickets[access.RoleHost])
	f.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })
	guest := f.mustDial(t, tickets[access.RoleGuest])
	host := await(t, hostCh)
	wantClosed(t, guest, "guest")
	wantClosed(t, host, "host")
	r := f.report(t)
	if r.Reason != EndMaxDuration {
		t.Fatalf("report = %+v, want reason %q", r, EndMaxDuration)
	}
	t.Logf("session cut %v after the ticket was issued (max duration 1 s)", r.Ended.Sub(now))
}
