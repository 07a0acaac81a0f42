package ticket

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// testNow is the fixed clock of these tests.
var testNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

const testAudience = "cs-eu-1"

// testKey returns a deterministic Ed25519 key numbered n.
func testKey(n byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = n
	}
	return ed25519.NewKeyFromSeed(seed)
}

func testSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{
		KeyID: KeyID(key.Public().(ed25519.PublicKey)),
		Key:   key,
		Now:   func() time.Time { return testNow },
	}
}

func testClaims() Claims {
	return Claims{
		ID:         "t-1",
		SessionID:  "s-1",
		Role:       RoleGuest,
		Audience:   testAudience,
		Subject:    "alice@example.com",
		HostID:     "h-1",
		Expiry:     testNow.Add(30 * time.Second),
		HostKeyFP:  "SHA256:host",
		GuestKeyFP: "SHA256:guest",
		Obligations: policy.Obligations{
			MaxDurationSeconds: 8 * 3600,
			MinEncryption:      "very_high",
			Channels:           []string{"shell", "exec"},
		},
		DecisionID: "d-1",
	}
}

func keySetOf(keys ...ed25519.PrivateKey) *KeySet {
	m := make(map[string]ed25519.PublicKey)
	for _, k := range keys {
		pub := k.Public().(ed25519.PublicKey)
		m[KeyID(pub)] = pub
	}
	return NewKeySet(m)
}

func testVerifier(keys *KeySet, now time.Time) *Verifier {
	return &Verifier{
		Keys:     keys,
		Audience: testAudience,
		Replay:   &ReplayCache{},
		Now:      func() time.Time { return now },
	}
}

func mint(t *testing.T, s *Signer, c Claims) string {
	t.Helper()
	raw, err := s.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return raw
}

func TestMintVerifyRoundTrip(t *testing.T) {
	key := testKey(1)
	raw := mint(t, testSigner(key), testClaims())
	if !strings.HasPrefix(raw, "v1."+KeyID(key.Public().(ed25519.PublicKey))+".") {
		t.Fatalf("ticket %q does not start with the version and key id", raw)
	}
	got, err := testVerifier(keySetOf(key), testNow).Verify(raw, RoleGuest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := testClaims()
	want.IssuedAt, want.NotBefore = testNow, testNow
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("claims differ:\n got %+v\nwant %+v", *got, want)
	}
	kid, parsed, err := Parse(raw)
	if err != nil || kid != KeyID(key.Public().(ed25519.PublicKey)) || parsed.SessionID != "s-1" {
		t.Fatalf("Parse = %q, %+v, %v", kid, parsed, err)
	}
}

// TestVerifyRefusals covers every refusal reason, each on a fresh verifier.
func TestVerifyRefusals(t *testing.T) {
	key, other := testKey(1), testKey(2)
	signer := testSigner(key)
	good := mint(t, signer, testClaims())
	with := func(edit func(*Claims)) string {
		c := testClaims()
		edit(&c)
		return mint(t, signer, c)
	}
	otherKid := testSigner(other)
	otherKid.KeyID = signer.KeyID // claims to be the real key, signed by another
	forged := mint(t, otherKid, testClaims())
	head, _, _ := strings.Cut(good, ".")
	tests := []struct {
		name string
		raw  string
		want Role
		now  time.Time
		err  error
	}{
		{"bad signature", forged, RoleGuest, testNow, ErrBadSignature},
		{"tampered payload", tamperPayload(t, good), RoleGuest, testNow, ErrBadSignature},
		{"unknown key id", mint(t, testSigner(other), testClaims()), RoleGuest, testNow, ErrUnknownKey},
		{"expired", good, RoleGuest, testNow.Add(30*time.Second + DefaultSkew), ErrExpired},
		{"not yet valid", with(func(c *Claims) {
			c.NotBefore = testNow.Add(20 * time.Second)
		}), RoleGuest, testNow.Add(10 * time.Second), ErrNotYetValid},
		{"wrong audience", with(func(c *Claims) { c.Audience = "cs-us-1" }), RoleGuest, testNow, ErrWrongAudience},
		{"wrong role", good, RoleHost, testNow, ErrWrongRole},
		{"malformed: empty", "", RoleGuest, testNow, ErrMalformed},
		{"malformed: version", "v2" + strings.TrimPrefix(good, head), RoleGuest, testNow, ErrMalformed},
		{"malformed: fields", good + ".x", RoleGuest, testNow, ErrMalformed},
		{"malformed: key id", strings.Replace(good, ".", ".*", 1), RoleGuest, testNow, ErrMalformed},
		{"malformed: payload base64", replaceField(good, 2, "e30="), RoleGuest, testNow, ErrMalformed},
		{"malformed: signature base64", replaceField(good, 3, "!"), RoleGuest, testNow, ErrMalformed},
		{"malformed: payload json", replaceField(good, 2, b64().EncodeToString([]byte(`{"jti":1}`))), RoleGuest, testNow, ErrMalformed},
		{"malformed: oversize", strings.Repeat("a", MaxTicketBytes+1), RoleGuest, testNow, ErrMalformed},
		{"malformed: lifetime", signRaw(t, signer, func(c *Claims) {
			c.Expiry = c.IssuedAt.Add(MaxLifetime + DefaultSkew + time.Second)
		}), RoleGuest, testNow, ErrMalformed},
		{"malformed: missing session", signRaw(t, signer, func(c *Claims) { c.SessionID = "" }), RoleGuest, testNow, ErrMalformed},
		{"malformed: unknown role", signRaw(t, signer, func(c *Claims) { c.Role = "admin" }), "", testNow, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier(keySetOf(key), tt.now)
			_, err := v.Verify(tt.raw, tt.want)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Verify error = %v, want %v", err, tt.err)
			}
			if v.Replay.Len() != 0 {
				t.Fatalf("a refused ticket consumed its id (%d remembered)", v.Replay.Len())
			}
		})
	}
}

// replaceField returns raw with its i-th dot-separated field replaced.
func replaceField(raw string, i int, field string) string {
	fields := strings.Split(raw, ".")
	fields[i] = field
	return strings.Join(fields, ".")
}

// tamperPayload re-encodes the ticket's claims with another subject, keeping the signature.
func tamperPayload(t *testing.T, raw string) string {
	t.Helper()
	_, c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	c.Subject = "mallory@example.com"
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return replaceField(raw, 2, b64().EncodeToString(payload))
}

// signRaw signs edited claims with the signer's key, bypassing Mint's checks, to build tickets
// that only a buggy or malicious minter would produce.
func signRaw(t *testing.T, s *Signer, edit func(*Claims)) string {
	t.Helper()
	c := testClaims()
	c.IssuedAt, c.NotBefore = testNow, testNow
	edit(&c)
	raw, err := encode(s.KeyID, &c, func(msg []byte) []byte { return ed25519.Sign(s.Key, msg) })
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyReplay(t *testing.T) {
	key := testKey(1)
	signer := testSigner(key)
	v := testVerifier(keySetOf(key), testNow)
	raw := mint(t, signer, testClaims())

	// A forgery carrying the same ticket id is refused and does not consume the id.
	forger := testSigner(testKey(9))
	forger.KeyID = signer.KeyID
	if _, err := v.Verify(mint(t, forger, testClaims()), RoleGuest); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged ticket: %v, want ErrBadSignature", err)
	}
	if _, err := v.Verify(raw, RoleHost); !errors.Is(err, ErrWrongRole) {
		t.Fatalf("wrong role first: %v, want ErrWrongRole", err)
	}
	if _, err := v.Verify(raw, RoleGuest); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(raw, RoleGuest); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second use: %v, want ErrReplayed", err)
	}
	// Without a replay cache (the Host reading its own ticket) the same ticket verifies again.
	v.Replay = nil
	if _, err := v.Verify(raw, RoleGuest); err != nil {
		t.Fatalf("no replay cache: %v", err)
	}
}

func TestVerifySkewAndEmptyChecks(t *testing.T) {
	key := testKey(1)
	signer := testSigner(key)
	c := testClaims()
	c.Role = RoleHost
	raw := mint(t, signer, c)
	tests := []struct {
		name string
		v    Verifier
		want Role
		err  error
	}{
		{"inside default skew after expiry", Verifier{Keys: keySetOf(key), Now: at(testNow.Add(34 * time.Second))}, RoleHost, nil},
		{"inside default skew before start", Verifier{Keys: keySetOf(key), Now: at(testNow.Add(-4 * time.Second))}, RoleHost, nil},
		{"no skew before start", Verifier{Keys: keySetOf(key), Skew: -1, Now: at(testNow.Add(-time.Second))}, RoleHost, ErrNotYetValid},
		{"no skew at expiry", Verifier{Keys: keySetOf(key), Skew: -1, Now: at(testNow.Add(30 * time.Second))}, RoleHost, ErrExpired},
		{"empty audience and role accept any", Verifier{Keys: keySetOf(key), Now: at(testNow)}, "", nil},
		{"nil key set", Verifier{Now: at(testNow)}, RoleHost, ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.v.Verify(raw, tt.want)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("Verify error = %v, want %v", err, tt.err)
			}
		})
	}
}

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	keys := keySetOf(oldKey)
	oldTicket := mint(t, testSigner(oldKey), testClaims())
	c := testClaims()
	c.ID = "t-2"
	newTicket := mint(t, testSigner(newKey), c)
	verify := func(raw string) error {
		_, err := (&Verifier{Keys: keys, Now: at(testNow)}).Verify(raw, RoleGuest)
		return err
	}
	if err := verify(newTicket); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key before rotation: %v, want ErrUnknownKey", err)
	}
	// Rotation publishes the new key next to the old one, then retires the old one.
	keys.Replace(keySetOf(oldKey, newKey).snapshot())
	if err := errors.Join(verify(oldTicket), verify(newTicket)); err != nil {
		t.Fatalf("during rotation: %v", err)
	}
	keys.Replace(keySetOf(newKey).snapshot())
	if err := verify(oldTicket); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old key after rotation: %v, want ErrUnknownKey", err)
	}
	if err := verify(newTicket); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
}

// snapshot copies the set's keys, for building Replace arguments in tests.
func (k *KeySet) snapshot() map[string]ed25519.PublicKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(k.keys))
	for kid, pub := range k.keys {
		out[kid] = pub
	}
	return out
}

func TestMintRefusals(t *testing.T) {
	key := testKey(1)
	tests := []struct {
		name string
		edit func(*Signer, *Claims)
		err  error
	}{
		{"lifetime above MaxLifetime", func(_ *Signer, c *Claims) { c.Expiry = testNow.Add(MaxLifetime + time.Second) }, ErrMalformed},
		{"expiry before not-before", func(_ *Signer, c *Claims) { c.Expiry = testNow.Add(-time.Second) }, ErrMalformed},
		{"missing expiry", func(_ *Signer, c *Claims) { c.Expiry = time.Time{} }, ErrMalformed},
		{"missing id", func(_ *Signer, c *Claims) { c.ID = "" }, ErrMalformed},
		{"missing session", func(_ *Signer, c *Claims) { c.SessionID = "" }, ErrMalformed},
		{"missing audience", func(_ *Signer, c *Claims) { c.Audience = "" }, ErrMalformed},
		{"missing host", func(_ *Signer, c *Claims) { c.HostID = "" }, ErrMalformed},
		{"unknown role", func(_ *Signer, c *Claims) { c.Role = "" }, ErrMalformed},
		{"short key", func(s *Signer, _ *Claims) { s.Key = s.Key[:32] }, nil},
		{"bad key id", func(s *Signer, _ *Claims) { s.KeyID = "a.b" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := testSigner(key), testClaims()
			tt.edit(s, &c)
			raw, err := s.Mint(c)
			if err == nil || raw != "" {
				t.Fatalf("Mint = %q, %v; want a refusal", raw, err)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("Mint error = %v, want %v", err, tt.err)
			}
		})
	}
	s, c := testSigner(key), testClaims()
	c.Expiry = testNow.Add(MaxLifetime)
	if _, err := s.Mint(c); err != nil {
		t.Fatalf("lifetime of exactly MaxLifetime: %v", err)
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		err  error
		code string
	}{
		{nil, ""},
		{ErrBadSignature, "bad_signature"},
		{ErrUnknownKey, "unknown_key"},
		{ErrExpired, "expired"},
		{ErrNotYetValid, "not_yet_valid"},
		{ErrWrongAudience, "wrong_audience"},
		{ErrWrongRole, "wrong_role"},
		{ErrMalformed, "malformed"},
		{ErrReplayed, "replayed"},
		{ErrInternal, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			wrapped := tt.err
			if tt.err != nil {
				wrapped = fmt.Errorf("relay: %w", tt.err)
			}
			if got := Code(wrapped); got != tt.code {
				t.Fatalf("Code(%v) = %q, want %q", wrapped, got, tt.code)
			}
			if got := ErrorForCode(tt.code); got != tt.err {
				t.Fatalf("ErrorForCode(%q) = %v, want %v", tt.code, got, tt.err)
			}
		})
	}
	for _, err := range []error{errors.New("disk on fire"), ErrReplayCacheFull} {
		if got := Code(err); got != "internal" {
			t.Errorf("Code(%v) = %q, want internal", err, got)
		}
	}
	if err := ErrorForCode("no_such_code"); !errors.Is(err, ErrInternal) {
		t.Errorf("ErrorForCode(unknown) = %v, want it to wrap ErrInternal", err)
	}
}

func TestClaimsJSONTimesAreUnixSeconds(t *testing.T) {
	c := testClaims()
	c.IssuedAt = testNow
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m["iat"] != float64(testNow.Unix()) || m["nbf"] != float64(0) {
		t.Fatalf("iat = %v, nbf = %v; want %d and 0", m["iat"], m["nbf"], testNow.Unix())
	}
	var back Claims
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, c)
	}
}
