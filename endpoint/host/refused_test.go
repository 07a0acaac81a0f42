package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
)

func TestAHostRefusedAsReplacedJustAfterItsRenewalRetriesAndKeepsItsSessions(t *testing.T) {
	t.Parallel()
	mismatch := &api.StatusError{Status: http.StatusUnauthorized, Body: api.Error{Code: access.ErrUnauthenticated, Reason: access.ErrCredentialMismatch}}
	unknown := &api.StatusError{Status: http.StatusUnauthorized, Body: api.Error{Code: access.ErrUnauthenticated, Reason: access.ErrUnknownHost}}
	disabled := &api.StatusError{Status: http.StatusForbidden, Body: api.Error{Code: access.ErrForbidden}}
	cases := []struct {
		name        string
		renewedAgo  time.Duration // 0: never renewed in this run
		err         error
		wantRefused bool
	}{
		{"the new certificate refused as replaced just after the renewal", time.Second, mismatch, false},
		{"the certificate refused as replaced, never renewed in this run", 0, mismatch, true},
		{"the certificate refused as replaced long after the renewal", 2 * renewalGrace, mismatch, true},
		{"an unknown Host just after the renewal", time.Second, unknown, true},
		{"a disabled Host just after the renewal", time.Second, disabled, true},
		{"the CM unavailable", 0, &api.StatusError{Status: http.StatusServiceUnavailable, Body: api.Error{Code: access.ErrUnavailable}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, stop := context.WithCancelCause(context.Background())
			defer stop(nil)
			rt := &hostRuntime{stop: stop}
			client := &http.Client{}
			rt.client.Store(client)
			if tc.renewedAgo > 0 {
				rt.renewed.Store(time.Now().Add(-tc.renewedAgo).UnixNano())
			}
			if got := rt.refused(client, tc.err); got != tc.wantRefused {
				t.Fatalf("refused = %v, want %v", got, tc.wantRefused)
			}
			if stopped := errors.Is(context.Cause(ctx), errRefused); stopped != tc.wantRefused {
				t.Fatalf("agent stopped (its sessions cut) = %v, want %v (cause %v)", stopped, tc.wantRefused, context.Cause(ctx))
			}
		})
	}
}

func TestARenewalStartsTheGraceForARefusalAsReplaced(t *testing.T) {
	t.Parallel()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "host:h_1"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.HostRenewResponse{Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), ExpiresAt: tmpl.NotAfter})
	}))
	t.Cleanup(srv.Close)
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	rt := &hostRuntime{key: key, stop: stop}
	rt.client.Store(srv.Client())
	h := &Agent{CMURL: srv.URL, StateDir: t.TempDir()}
	if err := h.renew(ctx, rt); err != nil {
		t.Fatalf("renew: %v", err)
	}
	mismatch := &api.StatusError{Status: http.StatusUnauthorized, Body: api.Error{Code: access.ErrUnauthenticated, Reason: access.ErrCredentialMismatch}}
	if rt.refused(rt.cm(), mismatch) || context.Cause(ctx) != nil {
		t.Fatalf("the renewed certificate refused as replaced at once stopped the agent (cause %v)", context.Cause(ctx))
	}
}
