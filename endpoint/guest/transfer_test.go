package guest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestCopierRoundTripsAndInterruptionsLeaveNoFinalFile(t *testing.T) {
	f := newFixture(t)
	client := connected(t, f)
	local, remote := t.TempDir(), t.TempDir() // the Host is this machine
	payload := bytes.Repeat([]byte(rand.Text()), 20000)
	src := filepath.Join(local, "big.bin")
	if err := os.WriteFile(src, payload, 0o640); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	cp, err := NewCopier(client, false, func(name string, done, size int64) { seen = append(seen, done) })
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Client.Close()

	if err := cp.Upload(t.Context(), src, remote); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(remote, "big.bin")); !bytes.Equal(got, payload) {
		t.Fatal("uploaded bytes differ")
	}
	if st, _ := os.Stat(filepath.Join(remote, "big.bin")); st.Mode().Perm() != 0o640 {
		t.Errorf("uploaded mode %v, want 0640", st.Mode().Perm())
	}
	if len(seen) < 2 || seen[len(seen)-1] != int64(len(payload)) {
		t.Errorf("progress reports %v, want a rising count ending at %d", seen, len(payload))
	}
	back := filepath.Join(local, "back.bin")
	if err := cp.Download(t.Context(), filepath.Join(remote, "big.bin"), back); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, payload) {
		t.Fatal("downloaded bytes differ")
	}

	// A transfer cut off halfway leaves neither a file under the final name nor a temporary one.
	for _, dir := range []string{"up", "down"} {
		ctx, cancel := context.WithCancel(t.Context())
		cut := &Copier{Client: cp.Client, Progress: func(_ string, done, size int64) {
			if done > 0 && done < size {
				cancel()
			}
		}}
		var err error
		var target string
		if dir == "up" {
			target = filepath.Join(remote, "cut.bin")
			err = cut.Upload(ctx, src, target)
		} else {
			target = filepath.Join(local, "cut.bin")
			err = cut.Download(ctx, src, target)
		}
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: interrupted copy returned %v", dir, err)
		}
		if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a file exists under the final name after an interrupted copy", dir)
		}
		for _, name := range entries(t, filepath.Dir(target)) {
			if strings.Contains(name, tempSuffix) {
				t.Errorf("%s: temporary file %s left behind", dir, name)
			}
		}
	}
	if err := cp.Upload(t.Context(), local, remote); !errors.Is(err, ErrBadCopy) {
		t.Errorf("a directory without recursion: %v", err)
	}
}
