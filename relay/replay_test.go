package relay

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/ticket"
)

func TestAUsedTicketIsRefusedAsReplayedByTheNextServerOnTheSameStateDir(t *testing.T) {
	cases := []struct {
		name string
		// clean: the first server shuts down and closes its log; otherwise it stops dead, as
		// under kill -9, right after it accepted the tickets.
		clean bool
	}{
		{"after a clean shutdown", true},
		{"after a crash right after the tickets were accepted", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A state dir this relay has used before: a new one (no replay log yet) would
			// refuse the tickets valid from before it opened, the fixture's too.
			if err := openReplay(t, dir).Close(); err != nil {
				t.Fatal(err)
			}
			first := newFixture(t, func(s *Server) { s.Verifier.Replay = openReplay(t, dir) })
			guestTicket := first.ticketFor(t, access.RoleGuest, "ses-once")
			hostTicket := first.ticketFor(t, access.RoleHost, "ses-once")
			hostCh := first.dialAsync(t, hostTicket)
			first.waitFor(t, "the host half to wait", func(s Stats) bool { return s.Pending == 1 })
			guest := first.mustDial(t, guestTicket)
			host := await(t, hostCh)
			_ = guest.Close()
			_ = host.Close()
			if tc.clean {
				if err := first.shutdown(t, testTimeout); err != nil {
					t.Fatal(err)
				}
			}
			// A process that dies releases its files and its lock on the log, and the log
			// holds nothing unsynced to lose (each id is on disk before its ticket is
			// admitted): closing the log is what a crash leaves of the first server.
			if err := first.srv.Verifier.Replay.Close(); err != nil {
				t.Fatal(err)
			}

			second := newFixture(t, func(s *Server) {
				s.Verifier.Keys = first.srv.Verifier.Keys
				s.Verifier.Replay = openReplay(t, dir)
			})
			second.signer = first.signer
			for name, raw := range map[string]string{"guest": guestTicket, "host": hostTicket} {
				_, err := second.dial(t, raw)
				wantRefused(t, err, access.ErrReplayed, access.ErrReplayed)
				t.Logf("%s ticket presented again after the restart: %v", name, err)
			}
			// Fresh tickets of the same CM still pair on the new server.
			g, h := second.pair(t, "ses-after-restart")
			go send(t, g, []byte("new"))
			if got := readAll(t, h); string(got) != "new" {
				t.Fatalf("host got %q", got)
			}
		})
	}
}

// openReplay opens the persistent replay cache of dir, closed when the test ends.
func openReplay(t *testing.T, dir string) *ticket.ReplayCache {
	t.Helper()
	r, err := ticket.OpenReplayCache(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}
