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

// rule says which packages of ours the packages under prefix may import (a listed "x" admits
// x and everything under it). The longest matching prefix decides.
type rule struct {
	prefix string
	may    []string
}

// rules is the one-way import rule; the Layout section of ARCHITECTURE.md states it in words.
func rules() []rule {
	// libs is the floor, which every library and role may import, and extra.
	libs := func(extra ...string) []string { return append([]string{"access"}, extra...) }
	return []rule{
		{"access", nil},
		{"rego", nil},
		{"store", libs()},
		{"api", libs()},
		{"ticket", libs()},
		{"certs", libs()},
		{"identity", libs("identity")},
		{"policy", libs("rego")},
		// Roles: each imports the libraries it needs and never another role.
		{"relay", libs("api", "certs", "ticket", "relay")},
		{"gateway", libs("api", "certs", "identity", "policy", "store", "ticket")},
		{"endpoint", libs("api", "certs", "ticket", "relay", "endpoint", "identity")},
		{"endpoint/hostauth", libs()},
		// Top: the binary, the local stack (demo, end-to-end tests, bench), the bench and the
		// test helpers may import anything.
		{"cmd", []string{""}},
		{"localstack", []string{""}},
		{"bench", []string{""}},
		{"internal", []string{""}},
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
			t.Errorf("package %s has no place in the import rule: add it to rules() (and to the Layout of ARCHITECTURE.md)", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			if !slices.ContainsFunc(r.may, func(p string) bool { return under(dep, p) }) {
				t.Errorf("%s imports %s, against the one-way rule (it may import %q)", pkg, dep, r.may)
			}
		}
	}
}

func TestRuleCatchesAFloorImportingARole(t *testing.T) {
	r, _ := ruleFor("access")
	if slices.ContainsFunc(r.may, func(p string) bool { return under("relay", p) }) {
		t.Fatal("the rule lets the floor import a role")
	}
	r, _ = ruleFor("relay/cmlink")
	if slices.ContainsFunc(r.may, func(p string) bool { return under("policy", p) || under("gateway", p) }) {
		t.Fatal("the rule lets the relay import the policy engine or the CM")
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
