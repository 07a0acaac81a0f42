package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
)

// A CM started with a bad setting refuses it, naming its flag, and creates nothing: no
// database, no development identity provider key.
func TestTheCMChecksEverySettingBeforeItCreatesItsStore(t *testing.T) {
	certDir := filepath.Join(t.TempDir(), "certs")
	if err := certs.Init(certDir, certs.InitOptions{Algorithm: certs.AlgP384}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown revocation", []string{"--revocation", "bogus"}, `--revocation "bogus" must be "end" or "warn"`},
		{"a negative re-evaluation interval", []string{"--reevaluate-interval", "-5s"}, "--reevaluate-interval -5s must not be negative"},
		{"a negative credential lifetime", []string{"--max-credential-ttl", "-1h"}, "--max-credential-ttl -1h0m0s must not be negative"},
		{"too much clock skew", []string{"--oidc-max-skew", "10m"}, "--oidc-max-skew 10m0s is outside 0..5m0s"},
		{"a collector that is not http", []string{"--decision-log-url", "ftp://collector"}, `--decision-log-url "ftp://collector" must be an absolute http or https URL`},
		{"a batch beyond the outbox's", []string{"--decision-log-url", "http://collector", "--decision-log-batch", "5000"}, "--decision-log-batch 5000 is outside 1..1000"},
		{"a negative batch", []string{"--decision-log-url", "http://collector", "--decision-log-batch", "-1"}, "--decision-log-batch -1 is outside 1..1000"},
		{"a missing policy directory", []string{"--policy-dir", "/nonexistent"}, "--policy-dir: stat /nonexistent"},
		{"a policy directory and a bundle", []string{"--policy-dir", "X", "--policy-bundle", "Y"}, "--policy-dir and --policy-bundle: set one, not both"},
		{"a bad listen address", []string{"--listen", "bogus:addr:x"}, `--listen "bogus:addr:x" is not a listen address`},
		{"a bad heartbeat listen address", []string{"--heartbeat-listen", "8080"}, `--heartbeat-listen "8080" is not a listen address`},
		{"no identity provider", []string{"--dev-idp=false"}, "--oidc-issuer is required"},
		{"a plain-http issuer", []string{"--oidc-issuer", "http://idp.example.com"}, "--oidc-issuer: identity: issuer \"http://idp.example.com\" must use https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "t.db")
			args := append([]string{"cm", "--dev-idp", "--certs-dir", certDir, "--store", "sqlite:" + db}, tc.args...)
			// Bounded: a CM that wrongly starts stops again, and the test sees what it left.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(args)
			err := root.ExecuteContext(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("cm %v: error %v, want %q\n%s", tc.args, err, tc.want, out.String())
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("cm %v left its database behind (stat: %v)", tc.args, err)
			}
			if _, err := os.Stat(filepath.Join(certDir, devIdPKeyFile)); !os.IsNotExist(err) {
				t.Errorf("cm %v wrote the development identity provider's key (stat: %v)", tc.args, err)
			}
		})
	}
}
