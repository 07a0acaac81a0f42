package importrule

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is the module path every package of ours starts with.
const module = "github.com/portcullis/portcullis/"

// rule says which packages of ours the packages under prefix may import. A listed "x" admits
// the package x alone; "x/..." admits x and everything under it; "..." admits anything. The
// longest matching prefix decides.
type rule struct {
	prefix string
	may    []string
}

// rules is the one-way import rule; docs/architecture.md draws the same map.
func rules() []rule {
	// libs is the floor, which every library and role may import, and extra.
	libs := func(extra ...string) []string {
		return append([]string{"access/...", "internal/atomicfile", "internal/privatedir", "internal/rawconn", "internal/ttyprompt"}, extra...)
	}
	return []rule{
		{"access", nil},
		{"internal/atomicfile", nil},
		{"internal/privatedir", nil},
		{"internal/rawconn", nil},
		{"internal/ttyprompt", nil},
		{"rego", nil},
		{"store", libs()},
		{"api", libs()},
		{"ticket", libs()},
		{"certs", libs()},
		{"identity", libs("identity/...")},
		// policy replays decision records as the API shows them (RecordedDecisions).
		{"policy", libs("rego/...", "api")},
		// The decision log's transparency log: records as the store holds them, keys as certs
		// writes them.
		{"translog", libs("store/...", "certs/...")},
		// Roles: each imports the libraries it needs and never another role.
		{"relay", libs("api/...", "certs/...", "ticket/...", "relay/...")},
		{"gateway", libs("api/...", "certs/...", "identity/...", "policy/...", "store/...", "ticket/...", "translog/...", "gateway/...")},
		// The CM's decision-log shipper reads the store and speaks the API's event format only.
		{"gateway/logship", libs("api/...", "store/...")},
		// The web console, served by the CM through an interface it declares: it calls the API
		// in-process and checks the log's proofs; the store only holds its sign-in sessions,
		// which every replica must know.
		{"console", libs("api/...", "identity/...", "policy/...", "translog/...", "store/...", "console/...")},
		// The two ends: what both share (endpoint), the Guest, and the Host with its own
		// schemes. The Guest never imports the Host side, so it does not link the policy engine.
		{"endpoint", libs("api/...", "certs/...", "ticket/...", "relay/...")},
		{"endpoint/guest", libs("api/...", "certs/...", "ticket/...", "relay/...", "endpoint", "endpoint/guest/...", "identity/...")},
		{"endpoint/host", libs("api/...", "certs/...", "ticket/...", "relay/...", "endpoint", "endpoint/host/...", "endpoint/hostauth/...")},
		{"endpoint/hostauth", libs()},
		// Top: the binary, the local stack (demo, end-to-end tests, bench), the bench and the
		// test helpers may import anything.
		{"cmd", []string{"..."}},
		{"localstack", []string{"..."}},
		{"bench", []string{"..."}},
		{"internal", []string{"..."}},
	}
}

// ruleFor returns the rule of package pkg (relative to the module), or false if none applies.
func ruleFor(pkg string) (rule, bool) {
	var best rule
	found := false
	for _, r := range rules() {
		if under(pkg, r.prefix) && (!found || len(r.prefix) > len(best.prefix)) {
			best, found = r, true
		}
	}
	return best, found
}

// under reports whether pkg is prefix or a package below it ("" is above everything).
func under(pkg, prefix string) bool {
	return prefix == "" || pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// admits reports whether the pattern of a rule's may list admits package dep: "x" is x alone,
// "x/..." is x and everything under it, "..." is anything.
func admits(pattern, dep string) bool {
	if tree, ok := strings.CutSuffix(pattern, "..."); ok {
		return under(dep, strings.TrimSuffix(tree, "/"))
	}
	return dep == pattern
}

// mayImport reports whether rule r admits package dep.
func (r rule) mayImport(dep string) bool {
	return slices.ContainsFunc(r.may, func(p string) bool { return admits(p, dep) })
}

// goList runs go list in the module's root and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func TestImportsRunOneWay(t *testing.T) {
	lines := goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...")
	if len(lines) < 15 {
		t.Fatalf("go list saw %d packages; the module's packages are missing", len(lines))
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		r, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("package %s has no place in the import rule: add it to rules() and to docs/architecture.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if !r.mayImport(dep) {
				t.Errorf("%s imports %s, against the one-way rule (it may import %q)", pkg, dep, r.may)
			}
		}
	}
}

func TestRuleCatchesAFloorImportingARole(t *testing.T) {
	r, _ := ruleFor("access")
	if r.mayImport("relay") {
		t.Fatal("the rule lets the floor import a role")
	}
	r, _ = ruleFor("relay/cmlink")
	if r.mayImport("policy") || r.mayImport("gateway") {
		t.Fatal("the rule lets the relay import the policy engine or the CM")
	}
}

func TestRuleKeepsTheEndsApart(t *testing.T) {
	cases := []struct {
		pkg, dep string
		want     bool
	}{
		{"endpoint/guest", "endpoint", true},
		{"endpoint/guest", "identity", true},
		{"endpoint/guest", "endpoint/host", false},
		{"endpoint/guest", "endpoint/hostauth", false},
		{"endpoint/host", "endpoint", true},
		{"endpoint/host", "endpoint/hostauth", true},
		{"endpoint/host", "endpoint/guest", false},
		{"endpoint/host", "identity", false},
		{"endpoint", "endpoint/hostauth", false},
		{"endpoint", "identity", false},
		{"endpoint", "relay/relayhttp", true},
		{"endpoint/hostauth", "endpoint", false},
		{"cmd/portcullis", "endpoint/host", true},
	}
	for _, c := range cases {
		r, ok := ruleFor(c.pkg)
		if !ok || r.mayImport(c.dep) != c.want {
			t.Errorf("%s may import %s: %v, want %v", c.pkg, c.dep, ok && r.mayImport(c.dep), c.want)
		}
	}
}

// TestRelayDoesNotLinkThePolicyEngine: the Connection Server carries no OPA.
func TestRelayDoesNotLinkThePolicyEngine(t *testing.T) {
	deps := goList(t, "-deps", "./relay/...")
	if !slices.Contains(deps, module+"relay") {
		t.Fatalf("go list -deps ./relay/... does not list the relay: %d lines", len(deps))
	}
	for _, d := range deps {
		if strings.Contains(d, "open-policy-agent") || d == module+"policy" {
			t.Errorf("the relay links %s", d)
		}
	}
}

// TestGuestDoesNotLinkThePolicyEngine: the Guest, and what both ends share, carry no OPA (only
// the Host's own schemes, endpoint/hostauth, do).
func TestGuestDoesNotLinkThePolicyEngine(t *testing.T) {
	for _, c := range []struct{ pattern, pkg string }{
		{"./endpoint/guest/...", "endpoint/guest"},
		{"./endpoint", "endpoint"},
	} {
		deps := goList(t, "-deps", c.pattern)
		if !slices.Contains(deps, module+c.pkg) {
			t.Fatalf("go list -deps %s does not list %s: %d lines", c.pattern, c.pkg, len(deps))
		}
		for _, d := range deps {
			if strings.Contains(d, "open-policy-agent") || d == module+"policy" || d == module+"endpoint/hostauth" {
				t.Errorf("%s links %s", c.pattern, d)
			}
		}
	}
}
