package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	guestep "github.com/portcullis/portcullis/endpoint/guest"
)

// The relays a Guest probes are cached for a few minutes (guest.ProbeCache), so that a
// connect skips one request to the CM. The cache only says where to measure: a cache naming
// a relay the CM never listed (planted in the user's directory) neither lets a Guest in nor
// moves its session there; the CM still decides and chooses among its own relays.
func TestAPlantedRelayProbeCacheChangesNeitherTheDecisionNorTheRelay(t *testing.T) {
	planted := []api.RelayAddr{{ID: "cs-planted", Addr: "127.0.0.1:9"}}
	for _, email := range []string{"alice@example.com", "mallory@example.com"} {
		cache := guestep.ProbeCache{Dir: sys.users[email].ConfigDir}
		t.Cleanup(func() { removeProbeCache(t, sys.users[email].ConfigDir) })
		removeProbeCache(t, sys.users[email].ConfigDir)
		// A first connect asks the CM and caches its answer: the CM's relays, for db-1.
		guest(t, email, "exec", "-n", "db-1", "--", "true")
		if email == "alice@example.com" {
			relays, ok := cache.Load(sys.c.CMURL, "db-1", time.Now())
			if !ok || len(relays) == 0 {
				t.Fatalf("after a connect the cache holds %+v (%v), want the CM's relays", relays, ok)
			}
		}
		if err := cache.Save(sys.c.CMURL, "db-1", planted, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := guest(t, "alice@example.com", "exec", "-v", "-n", "db-1", "--", "echo cached-ok")
	if code != 0 || stdout != "cached-ok\n" {
		t.Fatalf("exec with a planted cache: exit %d, stdout %q:\n%s", code, stdout, stderr)
	}
	if m := sessionRE.FindStringSubmatch(stderr); m == nil || m[2] == "cs-planted" {
		t.Fatalf("the session went through a relay the CM never listed:\n%s", stderr)
	}
	_, stderr, code = guest(t, "mallory@example.com", "exec", "-n", "db-1", "--", "touch /tmp/mallory-was-here")
	if code != 77 || !decisionRE.MatchString(stderr) {
		t.Fatalf("mallory with a planted cache: exit %d, want 77 (denied, with a decision):\n%s", code, stderr)
	}
}

// removeProbeCache deletes the relay probe caches of a user's directory, so that other
// tests' Guests ask the CM.
func removeProbeCache(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "relay-probes-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}
