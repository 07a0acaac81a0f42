package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/api"
)

// Every listing prints JSON for scripts with --format, like 'logs query'.
func TestListingsPrintJSONWithFormat(t *testing.T) {
	var reach []api.ReachableHost
	decodeList(t, "alice@example.com", &reach, "hosts", "--format", "json")
	if !hasName(reach, func(h api.ReachableHost) string { return h.Name }, "web-1") {
		t.Errorf("alice's hosts --format json lacks web-1: %+v", reach)
	}
	var enrolled []api.HostInfo
	decodeList(t, "carol@example.com", &enrolled, "hosts", "list", "--format", "json")
	if !hasName(enrolled, func(h api.HostInfo) string { return h.Name }, "db-1") {
		t.Errorf("hosts list --format json lacks db-1: %+v", enrolled)
	}
	var relays []api.RelayInfo
	decodeList(t, "carol@example.com", &relays, "relays", "ls", "--format", "json")
	if !hasName(relays, func(r api.RelayInfo) string { return r.ID }, "cs-eu-1") {
		t.Errorf("relays ls --format json lacks cs-eu-1: %+v", relays)
	}
	if out, stderr, code := guest(t, "carol@example.com", "relays", "ls"); code != 0 || !regexp.MustCompile(`(?m)^cs-eu-1\s+eu-north\s+vendor\s`).MatchString(out) {
		t.Errorf("relays ls: exit %d\n%s%s", code, out, stderr)
	}
	if _, _, code := guest(t, "mallory@example.com", "relays", "ls"); code == 0 {
		t.Error("mallory may list the relays")
	}
	if _, stderr, code := guest(t, "alice@example.com", "exec", "-n", "web-1", "--", "true"); code != 0 { // a session to list
		t.Fatalf("exec: exit %d: %s", code, stderr)
	}
	out, stderr, code := guest(t, "carol@example.com", "sessions", "ls", "--format", "ndjson", "--limit", "3")
	if code != 0 {
		t.Fatalf("sessions ls --format ndjson: exit %d: %s", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var s api.Session
		if err := json.Unmarshal([]byte(line), &s); err != nil || !strings.HasPrefix(s.ID, "ses_") {
			t.Errorf("sessions ls --format ndjson line %q: %v", line, err)
		}
	}
	if _, stderr, code := guest(t, "carol@example.com", "sessions", "ls", "--format", "yaml"); code == 0 || !strings.Contains(stderr, "want table, json or ndjson") {
		t.Errorf("an unknown format: exit %d, %s", code, stderr)
	}
}

// The CS says in its log that it registered, and under which id.
func TestTheCSLogsItsRegistrationAndID(t *testing.T) {
	log := sys.c.LogOf("cs-eu-1")
	if !regexp.MustCompile(`registered with the CM.*relay_id=cs-eu-1`).MatchString(log) {
		t.Errorf("the CS log does not say it registered as cs-eu-1:\n%s", log)
	}
}

// decodeList runs a Guest listing command as user and decodes its JSON output into out.
func decodeList(t *testing.T, user string, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := guest(t, user, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("%v printed no JSON list (%v):\n%s", args, err, stdout)
	}
}

// hasName reports whether one of items is called name.
func hasName[T any](items []T, nameOf func(T) string, name string) bool {
	for _, it := range items {
		if nameOf(it) == name {
			return true
		}
	}
	return false
}
