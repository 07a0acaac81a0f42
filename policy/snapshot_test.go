package policy

import (
	"errors"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
)

// changingFS is a policy directory edited while a reload reads it: authz.rego is the good
// version for the first reader that opens it after the tests were opened (as Test did), and
// the edited version for everyone else (as New did). A reader that comes before waits for
// that first read, so that the interleaving is fixed.
type changingFS struct {
	mu        sync.Mutex
	good, bad fstest.MapFS
	testsRead bool
	served    bool
	testGot   chan struct{}
}

// Open opens name from the good or the edited version, as described on changingFS.
func (c *changingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	if name == "a_test.rego" {
		c.testsRead = true
	}
	if name == "authz.rego" {
		if c.testsRead && !c.served {
			c.served = true
			c.mu.Unlock()
			defer close(c.testGot)
			return c.good.Open(name)
		}
		c.mu.Unlock()
		<-c.testGot // the edit lands after the first read, before any other
		return c.bad.Open(name)
	}
	c.mu.Unlock()
	return c.good.Open(name)
}

// TestAReloadServesExactlyThePolicyThatPassedItsTests: a policy directory edited while a
// reload reads it never rolls out modules that did not pass their tests, and the fingerprint
// the Manager keeps is of the policy it built; files a policy is not made of are left out,
// and a directory over the size bound is refused.
func TestAReloadServesExactlyThePolicyThatPassedItsTests(t *testing.T) {
	tests := []byte(`package portcullis.authz_test
import data.portcullis.authz
test_mallory_is_refused if not authz.decision.allow with input as {"subject": {"id": "mallory"}}
`)
	closed := []byte("package portcullis.authz\ndecision := {\"allow\": false, \"reasons\": [\"no\"]}\n")
	good := fstest.MapFS{"authz.rego": {Data: closed}, "a_test.rego": {Data: tests}}
	bad := fstest.MapFS{"authz.rego": {Data: []byte("package portcullis.authz\ndecision := {\"allow\": true, \"reasons\": [\"yes\"]}\n")}, "a_test.rego": {Data: tests}}
	m := &Manager{cfg: ManagerConfig{}}
	if _, _, err := m.build(t.Context(), candidate{fsys: bad}); !errors.Is(err, ErrTestsFailed) {
		t.Fatalf("the edited policy on its own: %v, want ErrTestsFailed", err)
	}
	goodFP, err := fingerprintFS(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		fsys    fs.FS
		limit   int64 // the size bound, for a case the snapshot refuses
		refused bool  // by the snapshot, before any test runs
	}{
		{"edited between the tests' read and the compiler's", &changingFS{good: good, bad: bad, testGot: make(chan struct{})}, 0, false},
		{"with files the policy is not made of", fstest.MapFS{"authz.rego": good["authz.rego"], "a_test.rego": good["a_test.rego"],
			"README.md": {Data: []byte("notes")}, "authz.rego.swp": {Data: []byte("editor")}}, 0, false},
		{"over the size bound", good, int64(len(closed) + len(tests) - 1), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.refused {
				if _, err := snapshotFS(tc.fsys, tc.limit); !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("snapshot: %v, want ErrInvalidPolicy", err)
				}
				return
			}
			cand, err := snapshotCandidate(tc.fsys) // as readCandidate reads a directory
			if err != nil {
				t.Fatal(err)
			}
			if cand.fingerprint != goodFP {
				t.Error("the fingerprint kept is not of the policy that was read")
			}
			e, n, err := m.build(t.Context(), cand)
			if err != nil {
				t.Fatalf("the good policy was refused: %v", err)
			}
			if res, _ := e.Decide(t.Context(), Input{Subject: Subject{ID: "mallory"}}); res.Decision.Allow {
				t.Fatalf("rolled out (%d tests passed) a policy whose tests fail: mallory allowed %v", n, res.Decision.Reasons)
			}
		})
	}
}
