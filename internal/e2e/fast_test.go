package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/localstack"
)

// fastPolicy is the default policy with staging opened to the fast level.
func fastPolicy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writePolicy(t, dir, `"staging": {"label": "staging", "min_encryption": "high"},`, `"staging": {"label": "staging", "min_encryption": "fast"},`)
	return dir
}

// The fast level: where the policy allows it and both ends run at fast, the relay drops the
// legs' TLS after checking the tickets and the session's bytes arrive intact over the
// end-to-end SSH alone (very_high's algorithms); where the Host does not run at fast, the legs
// keep TLS; where the policy does not allow fast, the Guest refuses (the relay's own refusal of
// a Guest that asks anyway is TestPlainLegsOnlyWhenBothHalvesAskAndTheirTicketsAllow).
func TestTheFastLevelDropsTheLegsTLSOnlyWhereThePolicyAndBothEndsAllowIt(t *testing.T) {
	ls := startLive(t, []string{"--policy-dir", fastPolicy(t)}, "cs-eu-1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := ls.c.StartHost(ctx, ls.dave, localstack.HostSpec{Name: "web-2", Tags: map[string]string{"env": "staging", "team": "web"},
		Tenant: "acme", Args: []string{"--encryption", "fast"}}); err != nil {
		t.Fatal(err)
	}
	const lines = 200000
	want := seqOutput(lines)
	cases := []struct {
		host      string
		wantPlain bool
	}{
		{"web-2", true},  // both ends at fast
		{"web-1", false}, // the Host runs at very_high (its default)
	}
	for _, tc := range cases {
		t.Run(tc.host, func(t *testing.T) {
			out, err := ls.c.Guest(ctx, ls.alice, "exec", "-v", "--encryption", "fast", tc.host, "--", "seq", "1", fmt.Sprint(lines)).Output()
			if err != nil {
				t.Fatalf("exec at fast on %s: %v", tc.host, err)
			}
			if string(out) != want {
				t.Fatalf("%d bytes of output, want the %d of seq 1 %d", len(out), len(want), lines)
			}
			verbose, err := ls.cli(t, ls.alice, "exec", "-v", "-n", "--encryption", "fast", tc.host, "--", "true")
			if err != nil {
				t.Fatalf("exec -v: %v\n%s", err, verbose)
			}
			if got := strings.Contains(verbose, "relay legs without TLS"); got != tc.wantPlain {
				t.Errorf("exec -v says plain legs %v, want %v:\n%s", got, tc.wantPlain, verbose)
			}
			if !strings.Contains(verbose, "cipher aes256-gcm@openssh.com") {
				t.Errorf("exec -v at fast does not negotiate very_high's AES-256-GCM:\n%s", verbose)
			}
			if log := ls.c.LogOf("cs-eu-1"); !strings.Contains(log, fmt.Sprintf("plain_legs=%v", tc.wantPlain)) {
				t.Errorf("the relay logged no session with plain_legs=%v", tc.wantPlain)
			}
			// The session's record tells a reviewer which legs it ran on.
			m := sessionRE.FindStringSubmatch(verbose)
			if m == nil {
				t.Fatalf("exec -v names no session:\n%s", verbose)
			}
			if m[3] != wantTransportOf(tc.wantPlain) {
				t.Errorf("exec -v says the session runs over %s, want %s", m[3], wantTransportOf(tc.wantPlain))
			}
			waitUntil(t, "the relay's report of the pairing", func() bool { return ls.session(t, m[1]).Transport == wantTransportOf(tc.wantPlain) })
			if s := ls.session(t, m[1]); s.Encryption != "fast" {
				t.Errorf("session record %+v, want encryption fast", s)
			}
		})
	}
}

// A Guest at fast refuses a Host whose environment the policy keeps above it.
func TestAGuestAtFastRefusesAHostThePolicyKeepsAboveFast(t *testing.T) {
	_, stderr, code := guest(t, "alice@example.com", "exec", "-n", "--encryption", "fast", "web-1", "--", "true")
	if code == 0 || !strings.Contains(stderr, `this Guest insists on "fast"`) {
		t.Fatalf("exec at fast to a host whose minimum is high: exit %d, %s", code, stderr)
	}
}

// wantTransportOf is the transport of a session's legs: tcp-plain when they dropped TLS.
func wantTransportOf(plain bool) string {
	if plain {
		return "tcp-plain"
	}
	return "tcp"
}

// seqOutput is what seq 1 n prints.
func seqOutput(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&b, i)
	}
	return b.String()
}
