package policy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	defaultpolicy "github.com/portcullis/portcullis/rego"
)

// noPoll is a poll interval no test outlives: a change the test sees came from the file watch.
const noPoll = time.Hour

// runManager runs m until the test ends.
func runManager(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if m.fetcher == nil { // a bundle service is only polled
		waitFor(t, func() bool { return m.Status().Watching })
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitClosed waits up to a minute for ch to close.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s: not announced within a minute", what)
	}
}

func TestRunWatchesThePolicyDirectoryWithoutPolling(t *testing.T) {
	dir := copyDefaultPolicy(t)
	if err := os.Mkdir(filepath.Join(dir, "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(t.Context(), ManagerConfig{Dir: dir, PollInterval: noPoll})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, m)
	steps := []struct {
		name string
		edit func()
	}{
		{"a module edited in place", func() {
			editFile(t, filepath.Join(dir, "authz.rego"), "default_max_duration_seconds := 3600", "default_max_duration_seconds := 3600 # reviewed")
		}},
		{"a module added in a subdirectory present at the start", func() {
			writeFile(t, filepath.Join(dir, "lib", "extra.rego"), "package portcullis.extra\n\nanswer := 42\n")
		}},
		{"a module added in a subdirectory made after the start", func() {
			sub := filepath.Join(dir, "more", "deeper")
			if err := os.MkdirAll(sub, 0o700); err != nil {
				t.Fatal(err)
			}
			// Written at once: the watch follows the new directories, and the read their
			// creation triggers comes after it has (and sees the file if already written).
			writeFile(t, filepath.Join(sub, "more.rego"), "package portcullis.more\n\nanswer := 43\n")
		}},
		{"a module saved by a rename, as editors do", func() {
			b, err := os.ReadFile(filepath.Join(dir, "authz.rego"))
			if err != nil {
				t.Fatal(err)
			}
			tmp := filepath.Join(dir, ".authz.rego.swp")
			writeFile(t, tmp, string(b)+"\n# saved by an editor\n")
			if err := os.Rename(tmp, filepath.Join(dir, "authz.rego")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		before, changed := m.Status().Revision, m.Changed()
		s.edit()
		waitClosed(t, changed, s.name)
		if st := m.Status(); st.Revision == before || st.LastError != "" {
			t.Fatalf("%s: status %+v, want a new revision rolled out", s.name, st)
		}
	}
	if got := m.Status().Reloads; got != int64(len(steps)) {
		t.Errorf("reloads = %d, want %d (one per change)", got, len(steps))
	}
}

func TestRunDebouncesAMultiWriteSaveAndKeepsTheLastGoodPolicyOnABrokenOne(t *testing.T) {
	dir := copyDefaultPolicy(t)
	// A quiet time far longer than two back-to-back writes take, however loaded the machine.
	m, err := NewManager(t.Context(), ManagerConfig{Dir: dir, PollInterval: noPoll, Debounce: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, m)
	authz := filepath.Join(dir, "authz.rego")
	orig, err := os.ReadFile(authz)
	if err != nil {
		t.Fatal(err)
	}
	// An editor truncating the file and then writing it: the half-written state is never read.
	first, changed := m.Current(), m.Changed()
	writeFile(t, authz, "package portcullis.authz\n\ndefault allow := \n")
	writeFile(t, authz, string(orig)+"\n# reviewed\n")
	waitClosed(t, changed, "a save in two writes")
	if st := m.Status(); st.Failures != 0 || st.Reloads != 1 || m.Current() == first {
		t.Fatalf("status %+v, want one reload and no refused candidate", st)
	}
	// A broken save is refused; the last good policy keeps serving (fail closed).
	good := m.Current()
	writeFile(t, authz, string(bytes.Replace(orig, []byte("default allow := false"), []byte("default allow := "), 1)))
	waitFor(t, func() bool { return m.Status().Failures == 1 })
	if st := m.Status(); m.Current() != good || st.LastError == "" || st.Revision != good.Revision() {
		t.Fatalf("status %+v after a broken save, want the last good policy serving and the error shown", st)
	}
}

func TestRunWatchesTheBundleFile(t *testing.T) {
	priv, pub := testKeys(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.tar.gz")
	sign := BundleSigning{KeyID: "policy-2026", Key: priv}
	writeBundle(t, file, defaultpolicy.Files(), "release-1", sign)
	m, err := NewManager(t.Context(), ManagerConfig{Bundle: file, PollInterval: noPoll, Verify: BundleVerification{KeyID: "policy-2026", Key: pub}})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, m)
	// Another file in the bundle's directory changes nothing.
	writeFile(t, filepath.Join(dir, "notes.txt"), "unrelated")
	// A new bundle written beside the old and renamed over it, as a deployment does.
	changed := m.Changed()
	writeBundle(t, file+".new", defaultpolicy.Files(), "release-2", sign)
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, changed, "a new bundle")
	if st := m.Status(); st.Revision != "release-2" || st.Reloads != 1 {
		t.Fatalf("status %+v, want release-2 rolled out", st)
	}
}

func writeFile(t *testing.T, file, text string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkManagerReload measures a roll-out of a changed policy directory: read, compile
// type-checked, run the policy's tests (the part of a policy change's way to the live sessions
// that is the Manager's).
func BenchmarkManagerReload(b *testing.B) {
	dir := copyDefaultPolicy(b)
	m, err := NewManager(b.Context(), ManagerConfig{Dir: dir, PollInterval: noPoll})
	if err != nil {
		b.Fatal(err)
	}
	extra := filepath.Join(dir, "extra.rego")
	i := 0
	for b.Loop() {
		i++
		if err := os.WriteFile(extra, fmt.Appendf(nil, "package portcullis.extra\n\nround := %d\n", i), 0o600); err != nil {
			b.Fatal(err)
		}
		if changed, err := m.Reload(b.Context()); !changed || err != nil {
			b.Fatalf("Reload = %v, %v; want a roll-out", changed, err)
		}
	}
}

// A policy directory replaced by another renamed over it (as a deployment does) is read at
// once; the old directory's watch is dropped (the status says so) until the next poll watches
// the new one.
func TestRunFollowsAPolicyDirectoryReplacedByARename(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "policy")
	if err := os.Rename(copyDefaultPolicy(t), dir); err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(t.Context(), ManagerConfig{Dir: dir, PollInterval: noPoll})
	if err != nil {
		t.Fatal(err)
	}
	runManager(t, m)
	next := copyDefaultPolicy(t)
	editFile(t, filepath.Join(next, "authz.rego"), "default_max_duration_seconds := 3600", "default_max_duration_seconds := 3600 # release 2")
	changed := m.Changed()
	if err := os.Rename(dir, filepath.Join(parent, "policy.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, dir); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, changed, "the replaced directory")
	waitFor(t, func() bool { return !m.Status().Watching })
}
