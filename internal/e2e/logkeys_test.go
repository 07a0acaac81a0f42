package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/localstack"
)

// TestTheCMTheCSAndTheHostNameTheSameThingWithTheSameKey runs one session on a system whose
// daemons log JSON lines, then reads the three logs: wherever a record carries the session's,
// the Host's, the relay's or the decision's id, it does so under one key, the same in the CM,
// the CS and the Host.
func TestTheCMTheCSAndTheHostNameTheSameThingWithTheSameKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const relayID, hostName = "cs-keys-1", "web-1"
	c, dave, alice := startSmallStack(ctx, t, localstack.Options{Bin: sys.bin, Dir: filepath.Join(t.TempDir(), "keys"), LogFormat: "json"},
		relayID, localstack.HostSpec{Name: hostName, Tags: map[string]string{"env": "staging", "team": "web"}, Tenant: "acme"})
	out, err := c.Guest(ctx, alice, "exec", "-v", hostName, "--", "true").CombinedOutput()
	m, d := sessionRE.FindStringSubmatch(string(out)), decisionRE.FindStringSubmatch(string(out))
	if err != nil || m == nil || d == nil || m[2] != relayID {
		t.Fatalf("exec -v: %v\n%s", err, out)
	}
	var hosts []api.HostInfo
	if err := api.Call(ctx, dave.Client, http.MethodGet, c.CMURL+api.PathHosts, dave.IDToken, nil, &hosts); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{m[1]: "session_id", relayID: "relay_id", d[1]: "decision_id"}
	for _, h := range hosts {
		if h.Name == hostName {
			ids[h.ID] = "host_id"
		}
	}
	if len(ids) != 4 {
		t.Fatalf("no enrolled host %s among %+v", hostName, hosts)
	}
	// The session's end reaches the logs a moment after the command's.
	waitUntil(t, "the session's end in the CS's log", func() bool { return strings.Contains(c.LogOf(relayID), "session ended") })

	seen := map[string]map[string]bool{} // log → keys seen carrying an id
	for _, name := range []string{"cm", relayID, hostName} {
		seen[name] = map[string]bool{}
		for rec := range jsonRecords(t, name, c.LogOf(name)) {
			for key, value := range rec {
				if want, ok := ids[value]; ok {
					if key != want {
						t.Errorf("%s logs %s under %q, want %q: %v", name, want, key, want, rec)
					}
					seen[name][key] = true
				}
			}
		}
	}
	for _, need := range []struct{ log, key string }{
		{"cm", "session_id"}, {relayID, "session_id"}, {hostName, "session_id"},
		{"cm", "decision_id"}, {relayID, "decision_id"},
		{"cm", "host_id"}, {hostName, "host_id"},
		{"cm", "relay_id"}, {hostName, "relay_id"},
	} {
		if !seen[need.log][need.key] {
			t.Errorf("%s never logs the %s; its log:\n%s", need.log, need.key, c.LogOf(need.log))
		}
	}
}

// jsonRecords yields every record of a JSON-lines log, flattened to "group.key" → string value.
func jsonRecords(t *testing.T, name, log string) func(func(map[string]string) bool) {
	return func(yield func(map[string]string) bool) {
		sc := bufio.NewScanner(strings.NewReader(log))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("%s: a log line that is not JSON: %q", name, sc.Text())
				continue
			}
			flat := map[string]string{}
			flatten("", rec, flat)
			if !yield(flat) {
				return
			}
		}
	}
}

// flatten copies v's leaves into out as strings, nested keys joined with dots.
func flatten(prefix string, v map[string]any, out map[string]string) {
	for k, x := range v {
		if g, ok := x.(map[string]any); ok {
			flatten(prefix+k+".", g, out)
			continue
		}
		out[prefix+k] = fmt.Sprint(x)
	}
}
