package cmlink_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/relay/cmlink"
)

func TestPollCommands(t *testing.T) {
	c := startCM(t)
	globex := enrolled(t, c, "cs-globex-1", "globex")
	tests := []struct {
		name string
		link func() *cmlink.Link
		code access.Code
		says string
	}{
		{"nothing ordered", func() *cmlink.Link { return c.link("cs-a", c.vendorClient(t, "cs-a")) }, "", ""},
		{"an enrolled relay", func() *cmlink.Link { return c.link("cs-globex-1", globex) }, "", ""},
		{"no client certificate", func() *cmlink.Link { return c.link("cs-a", c.client()) },
			access.ErrRelayCertRequired, "a relay client certificate naming the relay (relay:<id>) is required"},
		{"the relays' old shared certificate", func() *cmlink.Link { return c.link("cs-a", c.sharedCertClient(t)) },
			access.ErrRelayCertRequired, "issue each relay its own certificate (portcullis certs relay --id <id>)"},
		{"a vendor relay polls for another", func() *cmlink.Link { return c.link("cs-a", c.vendorClient(t, "cs-b")) },
			access.ErrWrongRelay, "this relay's certificate is for cs-b, not cs-a"},
		{"an enrolled relay polls for another", func() *cmlink.Link { return c.link("cs-a", globex) },
			access.ErrWrongRelay, "this relay's certificate is for cs-globex-1, not cs-a"},
		{"a vendor relay polls for an enrolled one", func() *cmlink.Link { return c.link("cs-globex-1", c.vendorClient(t, "cs-a")) },
			access.ErrWrongRelay, "this relay's certificate is for cs-a, not cs-globex-1"},
		{"a vendor certificate for an enrolled relay's id", func() *cmlink.Link {
			return c.link("cs-globex-1", c.vendorClient(t, "cs-globex-1"))
		}, access.ErrUnknownRelay, "cs-globex-1 is a tenant's enrolled relay; this is not the certificate the CM issued to it"},
		{"CM down", func() *cmlink.Link { return at(c.link("cs-a", c.vendorClient(t, "cs-a")), "https://"+freeAddr(t)) },
			"", "connection refused"},
		{"malformed answer", func() *cmlink.Link {
			return at(c.link("cs-a", c.vendorClient(t, "cs-a")), answering(t, `{"commands":{}}`))
		},
			"", "decode answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := tt.link().PollCommands(t.Context())
			if tt.says == "" {
				if err != nil || len(cmds) != 0 {
					t.Fatalf("PollCommands = %v, %v; want nothing after the CM's hold", cmds, err)
				}
				return
			}
			wantCode(t, err, tt.code, tt.says)
		})
	}
}

// TestTheCMsKillOrderEndsTheSessionOnTheRelay: an administrator locks a live session; the CM
// orders the relay that splices it to end it, with the lock's reason; an order for a session
// the relay does not hold is only logged.
func TestTheCMsKillOrderEndsTheSessionOnTheRelay(t *testing.T) {
	c := startCM(t)
	var logs syncbuf.Buffer
	l := c.link("cs-a", c.vendorClient(t, "cs-a"))
	l.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c.assignSession(t, "sess-1", "cs-a")
	c.assignSession(t, "sess-gone", "cs-a")
	r := newFakeRelay("sess-1", "sess-other")
	stop := runCommands(t, l, r)
	defer stop()

	for _, id := range []string{"sess-gone", "sess-1"} {
		if err := c.asAdmin(http.MethodPost, api.PathLocks, api.LockRequest{Session: id, Reason: "incident 7"}, nil); err != nil {
			t.Fatalf("lock %s: %v", id, err)
		}
	}
	wantEnded(t, r, "sess-1", api.ReasonPrefixLocked+"incident 7")
	waitFor(t, "the log of the order for a session the relay does not hold", func() bool {
		return strings.Contains(logs.String(), "CM ordered the end of a session this CS does not hold") &&
			strings.Contains(logs.String(), "session_id=sess-gone") && strings.Contains(logs.String(), "relay_id=cs-a")
	})
	if ids := r.SessionIDs(); len(ids) != 1 || ids[0] != "sess-other" {
		t.Fatalf("the relay holds %v, want only sess-other", ids)
	}
}

// TestOrdersArriveAfterTheCMComesUp: a relay whose CM is down keeps polling and takes the
// CM's orders once it is up.
func TestOrdersArriveAfterTheCMComesUp(t *testing.T) {
	c := newCM(t)
	l := c.link("cs-a", c.vendorClient(t, "cs-a"))
	var logs syncbuf.Buffer
	l.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r := newFakeRelay("sess-1")
	stop := runCommands(t, l, r)
	defer stop()
	waitFor(t, "a failed poll", func() bool { return strings.Contains(logs.String(), "poll CM for session commands") })
	c.start(t)
	c.assignSession(t, "sess-1", "cs-a")
	if err := c.asAdmin(http.MethodPost, api.PathLocks, api.LockRequest{Session: "sess-1", Reason: "late"}, nil); err != nil {
		t.Fatal(err)
	}
	wantEnded(t, r, "sess-1", api.ReasonPrefixLocked+"late")
}

// runCommands runs l.EndOrderedSessions for r; stop ends it and waits for it to return.
func runCommands(t *testing.T, l *cmlink.Link, r cmlink.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); l.EndOrderedSessions(ctx, r) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("EndOrderedSessions did not return when its context ended")
		}
	}
}

// wantEnded waits for the relay to end session id with reason.
func wantEnded(t *testing.T, r *fakeRelay, id, reason string) {
	t.Helper()
	select {
	case got := <-r.endedCh:
		r.mu.Lock()
		defer r.mu.Unlock()
		if got != id || r.ended[id] != reason {
			t.Fatalf("the relay ended %s (%q), want %s (%q)", got, r.ended[got], id, reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the relay was not told to end %s", id)
	}
}
