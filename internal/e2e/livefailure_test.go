//go:build unix

package e2e

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

func TestACMCrashDoesNotEndEstablishedSessionsAndTheSystemCarriesOnAfterItsRestart(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1")
	g := ls.startSession(t)
	ls.c.KillCM()
	g.stillTicking(t, "with the CM dead")
	time.Sleep(2 * time.Second) // the Host and the CS retry meanwhile, with backoff
	g.stillTicking(t, "with the CM down for 2 s")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ls.c.RestartCM(ctx, "cm-restarted"); err != nil {
		t.Fatal(err)
	}
	g.stillTicking(t, "after the CM restarted")
	ls.login(t) // the development IdP is the CM's: its sign-ins start over with it
	if err := ls.c.WaitHost(ctx, ls.dave, "web-1"); err != nil {
		t.Fatal(err)
	}
	if rec := ls.session(t, g.id); !rec.Live {
		t.Fatalf("the restarted CM records the surviving session as ended: %+v", rec)
	}
	out, err := ls.c.Guest(ctx, ls.alice, "exec", "web-1", "--", "echo after-restart").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "after-restart") {
		t.Fatalf("a new session after the restart: %v\n%s", err, out)
	}
	// The CS and the Host are back on the CM's order channels: a lock still reaches both.
	ordered := time.Now()
	if err := ls.call(ls.dave, http.MethodPost, api.PathLocks, api.LockRequest{Session: g.id, Reason: "after restart"}, nil); err != nil {
		t.Fatal(err)
	}
	ls.endedAtBothEnds(t, g, "cs-eu-1", ordered)
}

func TestACSThatDiesEndsOnlyItsOwnSessionsAndTheNextConnectGetsAnotherRelay(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1", "cs-us-1")
	a := ls.startSession(t)
	dead := ls.session(t, a.id).RelayID
	// Freeze a's relay until the CM stops assigning it, so that b goes through the other one;
	// then let it report again.
	if err := ls.relays[dead].Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	alive := "cs-eu-1"
	if dead == alive {
		alive = "cs-us-1"
	}
	// On a loaded machine the other relay may miss its reports too: wait until it is listed.
	waitUntil(t, "the CM to stop assigning the frozen "+dead+" and to assign "+alive, func() bool {
		return !ls.relayListed(dead) && ls.relayListed(alive)
	})
	b := ls.startSession(t)
	if err := ls.relays[dead].Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, dead+" to report again", func() bool { return ls.relayListed(dead) })
	if other := ls.session(t, b.id).RelayID; other == dead {
		t.Fatalf("both sessions went through %s", dead)
	}

	ls.relays[dead].Kill()
	killed := time.Now()
	waitUntil(t, "the session through the dead relay to end", a.exited)
	b.stillTicking(t, "after the other relay died")
	gone := waitUntil(t, "the CM to stop assigning "+dead, func() bool { return !ls.relayListed(dead) })
	t.Logf("the CM stopped assigning %s %v after it died (seen by polling for %v)", dead, time.Since(killed).Round(time.Millisecond), gone.Round(time.Millisecond))
	waitUntil(t, "the dead relay's session to be recorded as ended", func() bool { return !ls.session(t, a.id).Live })
	if rec := ls.session(t, a.id); rec.EndReason != "relay lost" {
		t.Errorf("session through the dead relay = %+v, want ended with reason \"relay lost\"", rec)
	}
	waitUntil(t, "the CM to assign "+alive, func() bool { return ls.relayListed(alive) })
	c := ls.startSession(t)
	if rec := ls.session(t, c.id); rec.RelayID == dead {
		t.Fatalf("the next connect was given the dead relay %s", dead)
	}
	if rec := ls.session(t, b.id); !rec.Live {
		t.Errorf("the session through the surviving relay is recorded as ended: %+v", rec)
	}
}
