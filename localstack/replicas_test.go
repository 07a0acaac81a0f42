//go:build linux

package localstack

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/pgtest"
)

// buildPortcullis builds the portcullis binary into a temporary directory.
func buildPortcullis(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portcullis")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/portcullis/portcullis/cmd/portcullis").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestReplicasNeedAStoreTheyCanShare(t *testing.T) {
	_, err := Start(context.Background(), Options{Bin: "portcullis", Dir: t.TempDir(), Replicas: 2})
	if err == nil || !strings.Contains(err.Error(), "share") {
		t.Fatalf("two replicas on the default SQLite store: %v, want refused", err)
	}
}

func TestReplicasServeBehindHAProxyWhichRoutesAroundADeadOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := buildPortcullis(t)
	dsn := pgtest.Start(t)
	started := time.Now()
	s, err := Start(ctx, Options{Bin: bin, Dir: t.TempDir(), Store: dsn, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"idp", "cm-1", "cm-2", "cm-1-again", "haproxy"} {
				t.Logf("--- %s ---\n%s", n, s.LogOf(n))
			}
		}
	})
	t.Logf("two replicas, the identity provider and HAProxy up in %v", time.Since(started).Round(time.Millisecond))

	u, err := s.Login(ctx, "dave@example.com", "password", "")
	if err != nil {
		t.Fatalf("sign in through the identity provider process: %v", err)
	}
	before, err := s.LBConnections()
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		var who api.WhoAmI
		// A new connection each time: keep-alive would pin every call to one replica.
		u.Client.CloseIdleConnections()
		if err := api.Call(ctx, u.Client, http.MethodGet, s.CMURL+api.PathWhoAmI, u.IDToken, nil, &who); err != nil || who.Subject != u.Email {
			t.Fatalf("whoami through HAProxy: %+v, %v", who, err)
		}
	}
	after, err := s.LBConnections()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.ReplicaNames() {
		if after[n] <= before[n] {
			t.Errorf("HAProxy sent no connection to %s (%v before, %v after)", n, before, after)
		}
	}
	for _, n := range s.ReplicaNames() {
		if err := api.Call(ctx, u.Client, http.MethodGet, s.ReplicaURL(n)+api.PathWhoAmI, u.IDToken, nil, nil); err != nil {
			t.Errorf("whoami at %s directly: %v", n, err)
		}
	}

	s.KillReplica("cm-1")
	killed := time.Now()
	if err := s.WaitLB(ctx, "cm-2"); err != nil {
		t.Fatal(err)
	}
	t.Logf("HAProxy took the killed cm-1 out of rotation after %v", time.Since(killed).Round(time.Millisecond))
	for range 4 {
		u.Client.CloseIdleConnections()
		if err := api.Call(ctx, u.Client, http.MethodGet, s.CMURL+api.PathWhoAmI, u.IDToken, nil, nil); err != nil {
			t.Fatalf("whoami through HAProxy with cm-1 dead: %v", err)
		}
	}
	if err := s.RestartReplica(ctx, "cm-1", "cm-1-again"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitLB(ctx, "cm-1", "cm-2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Route(ctx, "cm-1"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.LBStatus(); err != nil || !strings.HasPrefix(st["cm-2"], "MAINT") {
		t.Fatalf("after Route(cm-1): %v, %v; want cm-2 in maintenance", st, err)
	}
	if err := s.Route(ctx); err != nil {
		t.Fatal(err)
	}
}
