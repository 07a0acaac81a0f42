//go:build unix

package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/localstack"
)

// TestARelaysKeysCannotTakeOverAnotherRelayOrItsSession: alice's session runs through one of
// two vendor relays. The other relay's operator, who holds only that relay's own certificate,
// starts a second `portcullis cs` under the victim's id, and then, with a patched binary,
// registers as the victim at another address holding no sessions, reports the victim's session
// ended and polls for the victim's kill orders. The CS stops at start, and the CM refuses each
// call; the victim's registration and the session are untouched, and locking alice still ends
// the session at the victim's relay.
func TestARelaysKeysCannotTakeOverAnotherRelayOrItsSession(t *testing.T) {
	ls := startLive(t, nil, "cs-eu-1", "cs-us-1")
	g := ls.startSession(t)
	victim := ls.session(t, g.id).RelayID
	thief := map[string]string{"cs-eu-1": "cs-us-1", "cs-us-1": "cs-eu-1"}[victim]
	before := ls.relayInfo(t, victim)
	certFile, keyFile, err := ls.c.RelayCert(thief)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a CS started under the victim's id with another relay's certificate stops", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), liveDeadline)
		defer cancel()
		p, err := ls.c.StartRelay(ctx, localstack.RelaySpec{ID: victim, Name: "impostor", Region: "eu-north",
			Args: []string{"--relay-cert", certFile, "--relay-key", keyFile}})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the impostor to stop", p.Exited)
		if log := ls.c.LogOf("impostor"); !strings.Contains(log, "is relay "+thief+"'s certificate, not relay "+victim+"'s") {
			t.Fatalf("the impostor's log does not say why it stopped:\n%s", log)
		}
	})

	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := certs.LoadCertPool(ls.c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	patched := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
	}}}
	for _, a := range []struct {
		name         string
		method, path string
		body         any
	}{
		{"register as the victim elsewhere, holding nothing", http.MethodPost, api.PathRelayRegister,
			api.RelayRegistration{ID: victim, Addr: "203.0.113.9:1970", Region: "eu-north", LiveSessions: []string{}}},
		{"report the victim's session ended", http.MethodPost, api.PathRelaySessionEnd,
			api.SessionEnd{RelayID: victim, SessionID: g.id, Ended: time.Now(), Reason: "closed"}},
		{"poll for the victim's kill orders", http.MethodGet, api.PathRelayCommands + "?" + api.QueryRelayID + "=" + victim, nil},
	} {
		t.Run(a.name, func(t *testing.T) {
			err := ls.call(localstack.User{Client: patched}, a.method, a.path, a.body, nil)
			if se, ok := api.AsStatus(err); !ok || se.Status != http.StatusForbidden || !errors.Is(err, access.ErrWrongRelay) {
				t.Fatalf("the CM answered %v, want 403 wrong_relay", err)
			}
			if got := ls.relayInfo(t, victim); got.Addr != before.Addr || got.Owner != before.Owner {
				t.Fatalf("%s's registration changed: %+v, was %+v", victim, got, before)
			}
			if rec := ls.session(t, g.id); !rec.Live || rec.RelayID != victim {
				t.Fatalf("the session's record changed: %+v", rec)
			}
		})
	}
	g.stillTicking(t, "after the attacks")
	if log := ls.c.LogOf("cm"); !strings.Contains(log, "refused a relay's call for another relay") {
		t.Errorf("the CM's log does not record the refusals:\n%s", log)
	}

	ordered := time.Now()
	if out, err := ls.cli(t, ls.dave, "lock", "--user", "alice@example.com", "--reason", "stolen relay keys"); err != nil {
		t.Fatalf("portcullis lock: %v\n%s", err, out)
	}
	ls.endedAtBothEnds(t, g, victim, ordered)
	if rec := ls.session(t, g.id); rec.Live || rec.EndReason != "locked: stolen relay keys" {
		t.Fatalf("the session's record after the lock: %+v", rec)
	}
}

// relayInfo returns the CM's registration of relay id, as an administrator lists it.
func (ls *liveSystem) relayInfo(t *testing.T, id string) api.RelayInfo {
	t.Helper()
	var relays []api.RelayInfo
	if err := ls.call(ls.dave, http.MethodGet, api.PathRelays, nil, &relays); err != nil {
		t.Fatalf("list relays: %v", err)
	}
	for _, r := range relays {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("the CM lists no relay %s", id)
	return api.RelayInfo{}
}
