package certs_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/sshtest"

	"golang.org/x/crypto/ssh"
)

// fixture is the shared SSH key fixture.
type fixture struct{ sshtest.Fixture }

// newFixture returns keys for a session that allows every channel.
func newFixture(t testing.TB) *fixture { return &fixture{*sshtest.NewFixture(t)} }

func TestSignUserCert(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		channels []string
		validFor time.Duration
		wantExt  []string
		wantLife time.Duration
	}{
		{"shell and forward", []string{"shell", "forward"}, 0, []string{certs.ExtensionSession, certs.ExtensionPermitPTY, certs.ExtensionPermitPortForwarding}, time.Hour},
		{"exec only has no pty", []string{"exec"}, 0, []string{certs.ExtensionSession}, time.Hour},
		{"explicit lifetime", []string{"shell"}, 2 * time.Hour, []string{certs.ExtensionSession, certs.ExtensionPermitPTY}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := f.Cert(t, func(r *certs.UserCertRequest) {
				r.Obligations = access.Obligations{MaxDurationSeconds: 3600, Channels: tt.channels}
				r.ValidFor, r.Now = tt.validFor, now
			})
			if cert.CertType != ssh.UserCert || cert.KeyId != "dec-1" || !slices.Equal(cert.ValidPrincipals, []string{sshtest.Principal}) {
				t.Errorf("type %d key id %q principals %q", cert.CertType, cert.KeyId, cert.ValidPrincipals)
			}
			if got, want := int64(cert.ValidAfter), now.Add(-certs.CertBackdate).Unix(); got != want {
				t.Errorf("ValidAfter = %d, want %d", got, want)
			}
			if got, want := int64(cert.ValidBefore), now.Add(tt.wantLife).Unix(); got != want {
				t.Errorf("ValidBefore = %d, want %d", got, want)
			}
			if got := slices.Sorted(maps.Keys(cert.Extensions)); !slices.Equal(got, slices.Sorted(slices.Values(tt.wantExt))) {
				t.Errorf("extensions %q, want %q", got, tt.wantExt)
			}
			if cert.Extensions[certs.ExtensionSession] != f.SessionID || len(cert.CriticalOptions) != 0 {
				t.Errorf("session extension %q, critical options %v", cert.Extensions[certs.ExtensionSession], cert.CriticalOptions)
			}
			if !bytes.Equal(cert.SignatureKey.Marshal(), f.CA.PublicKey().Marshal()) {
				t.Error("not signed by the CA")
			}
		})
	}
}

func TestSignUserCertRefusesBadRequests(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		ca   ssh.Signer
		pub  ssh.PublicKey
		edit func(*certs.UserCertRequest)
	}{
		{"no principal", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.Principal = "" }},
		{"no session", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.SessionID = "" }},
		{"no decision", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.DecisionID = "" }},
		{"no lifetime", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.Obligations.MaxDurationSeconds = 0 }},
		{"too long", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.ValidFor = certs.MaxCertValidity + time.Second }},
		{"negative", f.CA, f.GuestKey.PublicKey(), func(r *certs.UserCertRequest) { r.ValidFor = -time.Second }},
		{"no CA", nil, f.GuestKey.PublicKey(), nil},
		{"no key", f.CA, nil, nil},
		{"key is a certificate", f.CA, f.Cert(t, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.Request()
			if tt.edit != nil {
				tt.edit(&req)
			}
			cert, err := certs.SignUserCert(tt.ca, tt.pub, req)
			if !errors.Is(err, certs.ErrBadCertRequest) || cert != nil {
				t.Fatalf("SignUserCert = %v, %v; want ErrBadCertRequest", cert, err)
			}
		})
	}
}

func TestUserCertChecker(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	valid := f.Cert(t, func(r *certs.UserCertRequest) { r.Now = now })
	twoPrincipals := *valid
	twoPrincipals.ValidPrincipals = []string{sshtest.Principal, "root"}
	withOption := *valid
	withOption.CriticalOptions = map[string]string{"force-command": "true"}
	hostCert := *valid
	hostCert.CertType = ssh.HostCert
	forever := *valid
	forever.ValidBefore = ssh.CertTimeInfinity
	tampered := *valid
	tampered.KeyId = "dec-forged"
	tests := []struct {
		name string
		user string
		key  ssh.PublicKey
		now  time.Time
		want error
	}{
		{"valid", sshtest.Principal, valid, now, nil},
		{"plain key", sshtest.Principal, f.GuestKey.PublicKey(), now, access.ErrNotCertificate},
		{"host certificate", sshtest.Principal, sshtest.Resign(t, f.CA, &hostCert), now, access.ErrNotUserCert},
		{"other CA", sshtest.Principal, sshtest.Resign(t, sshtest.NewSigner(t), valid), now, access.ErrWrongCA},
		{"tampered after signing", sshtest.Principal, &tampered, now, access.ErrBadSignature},
		{"critical option", sshtest.Principal, sshtest.Resign(t, f.CA, &withOption), now, access.ErrCriticalOption},
		{"two principals", sshtest.Principal, sshtest.Resign(t, f.CA, &twoPrincipals), now, access.ErrPrincipalCount},
		{"other user", "root", valid, now, access.ErrPrincipalMismatch},
		{"before validity", sshtest.Principal, valid, now.Add(-time.Hour), access.ErrNotYetValid},
		{"at expiry", sshtest.Principal, valid, time.Unix(int64(valid.ValidBefore), 0), access.ErrExpired},
		{"without expiry", sshtest.Principal, sshtest.Resign(t, f.CA, &forever), now, access.ErrCertLifetime},
		{"other session", sshtest.Principal, f.Cert(t, func(r *certs.UserCertRequest) { r.SessionID = "other"; r.Now = now }), now, access.ErrWrongSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checker := certs.UserCertChecker{UserCA: f.CA.PublicKey(), SessionID: f.SessionID, Now: func() time.Time { return tt.now }}
			cert, err := checker.Check(tt.user, tt.key)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if err == nil && cert == nil {
				t.Fatal("accepted without returning the certificate")
			}
		})
	}
}

func FuzzUserCertChecker(f *testing.F) {
	ca, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	if err != nil {
		f.Fatal(err)
	}
	guest, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize)))
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cert, err := certs.SignUserCert(ca, guest.PublicKey(), certs.UserCertRequest{
		Principal: sshtest.Principal, SessionID: "s1", DecisionID: "d1", ValidFor: time.Hour, Now: now,
		Obligations: access.Obligations{Channels: []string{"shell"}},
	})
	if err != nil {
		f.Fatal(err)
	}
	// Fuzz workers rebuild this setup, so the certificate must come out the same each time:
	// fixed serial, nonce from a fixed reader (Ed25519 signatures are deterministic).
	cert.Serial = 7
	if err := cert.SignCert(bytes.NewReader(make([]byte, 32)), ca); err != nil {
		f.Fatal(err)
	}
	f.Add(cert.Marshal())
	f.Add(guest.PublicKey().Marshal())
	checker := certs.UserCertChecker{UserCA: ca.PublicKey(), SessionID: "s1", Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ssh.ParsePublicKey(data)
		if err != nil {
			return
		}
		got, err := checker.Check(sshtest.Principal, key)
		if err != nil {
			if !slices.ContainsFunc(certRefusals, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("refusal without a sentinel: %v", err)
			}
			return
		}
		if !bytes.Equal(got.Marshal(), cert.Marshal()) {
			t.Fatalf("accepted a certificate whose signed claims differ from the CA's")
		}
	})
}

// certRefusals are the sentinels a certificate check may refuse with.
var certRefusals = []error{
	access.ErrNotCertificate, access.ErrNotUserCert, access.ErrWrongCA, access.ErrBadSignature, access.ErrCriticalOption,
	access.ErrPrincipalCount, access.ErrPrincipalMismatch, access.ErrNotYetValid, access.ErrExpired, access.ErrCertLifetime, access.ErrWrongSession,
}

func TestCertGroups(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		groups []string
	}{
		{"none", nil},
		{"some, with awkward characters", []string{"ops", "a,b", `q"uote`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := f.Cert(t, func(r *certs.UserCertRequest) { r.Groups = tt.groups })
			got, err := certs.CertGroups(cert)
			if err != nil || !slices.Equal(got, tt.groups) {
				t.Fatalf("CertGroups = %q, %v; want %q", got, err, tt.groups)
			}
			if _, present := cert.Extensions[certs.ExtensionGroups]; present != (len(tt.groups) > 0) {
				t.Errorf("extension present = %v with %d groups", present, len(tt.groups))
			}
		})
	}
	bad := f.Cert(t, nil)
	bad.Extensions[certs.ExtensionGroups] = "ops,dev"
	if _, err := certs.CertGroups(bad); err == nil {
		t.Error("a malformed groups extension was accepted")
	}
}
