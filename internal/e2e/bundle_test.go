package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/policy"
)

// keygen runs 'portcullis policy keygen' and returns the paths of the keys it wrote.
func keygen(t *testing.T, dir, name string) (private, public string) {
	t.Helper()
	private, public = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
	cmd := exec.Command(sys.bin, "policy", "keygen", "--private", private, "--public", public)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("policy keygen: %v\n%s", err, b)
	}
	return private, public
}

// bundle runs 'portcullis policy bundle' for the embedded policy.
func bundle(t *testing.T, out, key, revision string) {
	t.Helper()
	cmd := exec.Command(sys.bin, "policy", "bundle", "--out", out, "--signing-key", key, "--key-id", "policy-2026", "--revision", revision)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("policy bundle: %v\n%s", err, b)
	}
}

// A CM that serves a signed bundle refuses a replacement signed with another key: the release
// it verified keeps deciding, and its status says why.
func TestTheCMRefusesABundleWithABadSignature(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	priv, pub := keygen(t, dir, "release")
	otherPriv, _ := keygen(t, dir, "other")
	file := filepath.Join(dir, "policy.tar.gz")
	bundle(t, file, priv, "release-1")
	c, err := localstack.Start(ctx, localstack.Options{Bin: sys.bin, Dir: filepath.Join(dir, "sys"), CMArgs: []string{
		"--policy-bundle", file, "--policy-key", pub, "--policy-key-id", "policy-2026", "--policy-poll", "200ms",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	carol, err := c.Login(ctx, "carol@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	status := func() policy.Status {
		var st policy.Status
		if err := api.Call(ctx, carol.Client, http.MethodGet, c.CMURL+api.PathPolicyStatus, carol.IDToken, nil, &st); err != nil {
			t.Fatalf("policy status: %v", err)
		}
		return st
	}
	if st := status(); st.Revision != "release-1" || st.Origin != policy.OriginBundle {
		t.Fatalf("status %+v, want bundle release-1", st)
	}
	bundle(t, file, otherPriv, "release-forged")
	deadline := time.Now().Add(time.Minute)
	st := status()
	for st.Failures == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		st = status()
	}
	if st.Revision != "release-1" || st.Failures == 0 || !strings.Contains(st.LastError, "signature") {
		t.Fatalf("status %+v, want release-1 still serving and the signature failure", st)
	}
	if log := c.LogOf("cm"); !strings.Contains(log, "policy refused; the last good policy keeps serving") {
		t.Errorf("the CM log does not report the refusal:\n%s", log)
	}
	bundle(t, file, priv, "release-2")
	deadline = time.Now().Add(time.Minute)
	for status().Revision != "release-2" {
		if time.Now().After(deadline) {
			t.Fatalf("release-2 was not rolled out: %+v", status())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
