package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// policy keygen refuses to overwrite a signing key, and writes neither file, unless --force.
func TestPolicyKeygenKeepsAnExistingKeyUnlessForced(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "bundle.key"), filepath.Join(dir, "bundle.pub")
	if out, err := portcullis(t, "policy", "keygen", "--private", priv, "--public", pub); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	oldPriv, err := os.ReadFile(priv)
	if err != nil {
		t.Fatal(err)
	}
	// Only the public key is new: the private one is kept all the same, and no public key is
	// written beside it.
	newPub := filepath.Join(dir, "other.pub")
	if _, err := portcullis(t, "policy", "keygen", "--private", priv, "--public", newPub); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("keygen over an existing private key: %v, want it refused naming --force", err)
	}
	if got, _ := os.ReadFile(priv); !bytes.Equal(got, oldPriv) {
		t.Error("keygen replaced the existing private key")
	}
	if _, err := os.Stat(newPub); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused keygen wrote %s (stat: %v)", newPub, err)
	}
	if out, err := portcullis(t, "policy", "keygen", "--private", priv, "--public", pub, "--force"); err != nil {
		t.Fatalf("keygen --force: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(priv); bytes.Equal(got, oldPriv) {
		t.Error("keygen --force kept the old private key")
	}
}

// policy test names a missing directory by its path, and says when a directory has no tests.
func TestPolicyTestNamesTheDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	if _, err := portcullis(t, "policy", "test", missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("policy test %s: %v, want the directory named", missing, err)
	}
	untested := untestedPolicyDir(t)
	out, err := portcullis(t, "policy", "test", untested)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitPolicyFailed || !strings.Contains(out, "no tests found in "+untested) {
		t.Errorf("policy test on a policy without tests: %v\n%s\nwant it to fail saying no tests were found in %s", err, out, untested)
	}
}
