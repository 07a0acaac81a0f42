package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/relay"
)

// Issue 12 point 3: a used ticket stays used across a CS restart. Alice asks the CM for a
// session; her Guest ticket is presented to the relay, which pairs it with the Host's half; the
// relay is killed with SIGKILL at once and started again on the same state directory; the same
// ticket, presented again well within its lifetime, is refused as replayed. New sessions go on
// through the restarted relay.
func TestAUsedTicketIsRefusedAfterTheRelayIsKilledAndRestarted(t *testing.T) {
	const relayID = "cs-replay-1"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, _, alice := startSmallStack(ctx, t, localstack.Options{Bin: sys.bin, Dir: filepath.Join(t.TempDir(), "replay")},
		relayID, localstack.HostSpec{Name: "db-1", Tags: map[string]string{"env": "prod"}, Tenant: "acme"})
	var firstLog string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s before the kill ---\n%s\n--- %s after ---\n%s", relayID, firstLog, relayID, c.LogOf(relayID))
		}
	})
	pool, err := certs.LoadCertPool(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	tlsConf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	grant := askForSession(ctx, t, alice, c.CMURL, "db-1")
	if grant.Relay.ID != relayID {
		t.Fatalf("the CM chose relay %q, want %q", grant.Relay.ID, relayID)
	}
	conn, err := relay.Dial(ctx, grant.Relay.Addr, tlsConf, grant.Ticket)
	if err != nil {
		t.Fatalf("first presentation of the ticket: %v", err)
	}
	c.Proc(relayID).Kill() // at once: no drain, no flush
	_ = conn.Close()
	firstLog = c.LogOf(relayID)
	if !strings.Contains(firstLog, "session paired") {
		t.Fatalf("the relay did not pair the first presentation")
	}

	restarted, err := c.StartRelay(ctx, localstack.RelaySpec{ID: relayID, Region: "eu-north"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = relay.Dial(ctx, restarted.Addr, tlsConf, grant.Ticket)
	var refused *relay.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, access.ErrReplayed) {
		t.Fatalf("the same ticket after the restart: %v, want refused as replayed", err)
	}
	if left := time.Until(grant.ExpiresAt); left <= 0 {
		t.Logf("note: the grant expired %s before the second presentation", -left)
	}

	// The restarted relay takes new sessions (once the CM has its new address).
	for attempt := 1; ; attempt++ {
		out, err := c.Guest(ctx, alice, "exec", "db-1", "--", "echo", "after-restart").CombinedOutput()
		if err == nil && strings.Contains(string(out), "after-restart") {
			break
		}
		if ctx.Err() != nil || attempt == 10 {
			t.Fatalf("no session through the restarted relay after %d attempts: %v\n%s", attempt, err, out)
		}
		time.Sleep(time.Second)
	}
}

// askForSession posts a connect request for host as u, with a fresh key, and returns the grant.
func askForSession(ctx context.Context, t *testing.T, u localstack.User, cmURL, host string) api.ConnectResponse {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	req := api.ConnectRequest{Host: host, Channels: []string{"exec"}, PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))}
	var grant api.ConnectResponse
	if err := api.Call(ctx, u.Client, http.MethodPost, cmURL+api.PathConnect, u.IDToken, req, &grant); err != nil {
		t.Fatalf("connect to %s as %s: %v", host, u.Email, err)
	}
	return grant
}
