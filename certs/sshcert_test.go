package certs

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/policy"
)

// testPrincipal is the subject the tests certify.
const testPrincipal = "alice@example.com"

// newSigner returns a fresh Ed25519 SSH signer.
func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// fixture holds the keys and the session of one test: the CM's user CA, the Host key, the
// Guest's per-connection key.
type fixture struct {
	ca          ssh.Signer
	hostKey     ssh.Signer
	guestKey    ssh.Signer
	sessionID   string
	obligations policy.Obligations
}

// newFixture returns keys for a session that allows every channel.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{
		ca:        newSigner(t),
		hostKey:   newSigner(t),
		guestKey:  newSigner(t),
		sessionID: "sess-" + t.Name(),
		obligations: policy.Obligations{
			MaxDurationSeconds: 3600,
			MinEncryption:      "very_high",
			Channels:           []string{"shell", "exec", "sftp", "forward"},
		},
	}
}

// request is the UserCertRequest the CM would make for this fixture.
func (f *fixture) request() UserCertRequest {
	return UserCertRequest{
		Principal:   testPrincipal,
		SessionID:   f.sessionID,
		DecisionID:  "dec-1",
		Obligations: f.obligations,
	}
}

// cert signs the fixture's request, changed by edit when not nil.
func (f *fixture) cert(t testing.TB, edit func(*UserCertRequest)) *ssh.Certificate {
	t.Helper()
	req := f.request()
	if edit != nil {
		edit(&req)
	}
	cert, err := SignUserCert(f.ca, f.guestKey.PublicKey(), req)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// resign signs a hand-made certificate with ca, for shapes SignUserCert never produces.
func resign(t testing.TB, ca ssh.Signer, cert *ssh.Certificate) *ssh.Certificate {
	t.Helper()
	c := *cert
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return &c
}

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
		{"shell and forward", []string{"shell", "forward"}, 0, []string{ExtensionSession, ExtensionPermitPTY, ExtensionPermitPortForwarding}, time.Hour},
		{"exec only has no pty", []string{"exec"}, 0, []string{ExtensionSession}, time.Hour},
		{"explicit lifetime", []string{"shell"}, 2 * time.Hour, []string{ExtensionSession, ExtensionPermitPTY}, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := f.cert(t, func(r *UserCertRequest) {
				r.Obligations = policy.Obligations{MaxDurationSeconds: 3600, Channels: tt.channels}
				r.ValidFor, r.Now = tt.validFor, now
			})
			if cert.CertType != ssh.UserCert || cert.KeyId != "dec-1" || !slices.Equal(cert.ValidPrincipals, []string{testPrincipal}) {
				t.Errorf("type %d key id %q principals %q", cert.CertType, cert.KeyId, cert.ValidPrincipals)
			}
			if got, want := int64(cert.ValidAfter), now.Add(-CertBackdate).Unix(); got != want {
				t.Errorf("ValidAfter = %d, want %d", got, want)
			}
			if got, want := int64(cert.ValidBefore), now.Add(tt.wantLife).Unix(); got != want {
				t.Errorf("ValidBefore = %d, want %d", got, want)
			}
			if got := slices.Sorted(maps.Keys(cert.Extensions)); !slices.Equal(got, slices.Sorted(slices.Values(tt.wantExt))) {
				t.Errorf("extensions %q, want %q", got, tt.wantExt)
			}
			if cert.Extensions[ExtensionSession] != f.sessionID || len(cert.CriticalOptions) != 0 {
				t.Errorf("session extension %q, critical options %v", cert.Extensions[ExtensionSession], cert.CriticalOptions)
			}
			if !bytes.Equal(cert.SignatureKey.Marshal(), f.ca.PublicKey().Marshal()) {
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
		edit func(*UserCertRequest)
	}{
		{"no principal", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.Principal = "" }},
		{"no session", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.SessionID = "" }},
		{"no decision", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.DecisionID = "" }},
		{"no lifetime", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.Obligations.MaxDurationSeconds = 0 }},
		{"too long", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.ValidFor = MaxCertValidity + time.Second }},
		{"negative", f.ca, f.guestKey.PublicKey(), func(r *UserCertRequest) { r.ValidFor = -time.Second }},
		{"no CA", nil, f.guestKey.PublicKey(), nil},
		{"no key", f.ca, nil, nil},
		{"key is a certificate", f.ca, f.cert(t, nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := f.request()
			if tt.edit != nil {
				tt.edit(&req)
			}
			cert, err := SignUserCert(tt.ca, tt.pub, req)
			if !errors.Is(err, ErrBadCertRequest) || cert != nil {
				t.Fatalf("SignUserCert = %v, %v; want ErrBadCertRequest", cert, err)
			}
		})
	}
}

func TestUserCertChecker(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	valid := f.cert(t, func(r *UserCertRequest) { r.Now = now })
	twoPrincipals := *valid
	twoPrincipals.ValidPrincipals = []string{testPrincipal, "root"}
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
		{"valid", testPrincipal, valid, now, nil},
		{"plain key", testPrincipal, f.guestKey.PublicKey(), now, ErrNotCertificate},
		{"host certificate", testPrincipal, resign(t, f.ca, &hostCert), now, ErrNotUserCert},
		{"other CA", testPrincipal, resign(t, newSigner(t), valid), now, ErrWrongCA},
		{"tampered after signing", testPrincipal, &tampered, now, ErrBadCertSignature},
		{"critical option", testPrincipal, resign(t, f.ca, &withOption), now, ErrCriticalOption},
		{"two principals", testPrincipal, resign(t, f.ca, &twoPrincipals), now, ErrPrincipalCount},
		{"other user", "root", valid, now, ErrPrincipalMismatch},
		{"before validity", testPrincipal, valid, now.Add(-time.Hour), ErrCertNotYetValid},
		{"at expiry", testPrincipal, valid, time.Unix(int64(valid.ValidBefore), 0), ErrCertExpired},
		{"without expiry", testPrincipal, resign(t, f.ca, &forever), now, ErrCertLifetime},
		{"other session", testPrincipal, f.cert(t, func(r *UserCertRequest) { r.SessionID = "other"; r.Now = now }), now, ErrWrongSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checker := UserCertChecker{UserCA: f.ca.PublicKey(), SessionID: f.sessionID, Now: func() time.Time { return tt.now }}
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
	cert, err := SignUserCert(ca, guest.PublicKey(), UserCertRequest{
		Principal: testPrincipal, SessionID: "s1", DecisionID: "d1", ValidFor: time.Hour, Now: now,
		Obligations: policy.Obligations{Channels: []string{"shell"}},
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
	checker := UserCertChecker{UserCA: ca.PublicKey(), SessionID: "s1", Now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ssh.ParsePublicKey(data)
		if err != nil {
			return
		}
		got, err := checker.Check(testPrincipal, key)
		if err != nil {
			if !slices.ContainsFunc(certRefusals, func(e error) bool { return errors.Is(err, e) }) {
				t.Fatalf("refusal without a sentinel: %v", err)
			}
			return
		}
		if !bytes.Equal(signedBytes(got), signedBytes(cert)) {
			t.Fatalf("accepted a certificate whose signed claims differ from the CA's")
		}
	})
}

// certRefusals are the sentinels a certificate check may refuse with.
var certRefusals = []error{
	ErrNotCertificate, ErrNotUserCert, ErrWrongCA, ErrBadCertSignature, ErrCriticalOption,
	ErrPrincipalCount, ErrPrincipalMismatch, ErrCertNotYetValid, ErrCertExpired, ErrCertLifetime, ErrWrongSession,
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
			cert := f.cert(t, func(r *UserCertRequest) { r.Groups = tt.groups })
			got, err := CertGroups(cert)
			if err != nil || !slices.Equal(got, tt.groups) {
				t.Fatalf("CertGroups = %q, %v; want %q", got, err, tt.groups)
			}
			if _, present := cert.Extensions[ExtensionGroups]; present != (len(tt.groups) > 0) {
				t.Errorf("extension present = %v with %d groups", present, len(tt.groups))
			}
		})
	}
	bad := f.cert(t, nil)
	bad.Extensions[ExtensionGroups] = "ops,dev"
	if _, err := CertGroups(bad); err == nil {
		t.Error("a malformed groups extension was accepted")
	}
}
