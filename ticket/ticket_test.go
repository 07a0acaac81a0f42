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

	"github.com/portcullis/portcullis/access"
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
		Role:       access.RoleGuest,
		Audience:   testAudience,
		Subject:    "alice@example.com",
		HostID:     "h-1",
		Expiry:     testNow.Add(30 * time.Second),
		HostKeyFP:  "SHA256:host",
		GuestKeyFP: "SHA256:guest",
		Obligations: access.Obligations{
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
	got, err := testVerifier(keySetOf(key), testNow).Verify(raw, access.RoleGuest)
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
		want access.Role
		now  time.Time
		err  error
	}{
		{"bad signature", forged, access.RoleGuest, testNow, access.ErrBadSignature},
		{"tampered payload", tamperPayload(t, good), access.RoleGuest, testNow, access.ErrBadSignature},
		{"unknown key id", mint(t, testSigner(other), testClaims()), access.RoleGuest, testNow, access.ErrUnknownKey},
		{"expired", good, access.RoleGuest, testNow.Add(30*time.Second + DefaultSkew), access.ErrExpired},
		{"not yet valid", with(func(c *Claims) {
			c.NotBefore = testNow.Add(20 * time.Second)
		}), access.RoleGuest, testNow.Add(10 * time.Second), access.ErrNotYetValid},
		{"wrong audience", with(func(c *Claims) { c.Audience = "cs-us-1" }), access.RoleGuest, testNow, access.ErrWrongAudience},
		{"wrong role", good, access.RoleHost, testNow, access.ErrWrongRole},
		{"malformed: empty", "", access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: version", "v2" + strings.TrimPrefix(good, head), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: fields", good + ".x", access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: key id", strings.Replace(good, ".", ".*", 1), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: payload base64", replaceField(good, 2, "e30="), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: signature base64", replaceField(good, 3, "!"), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: payload json", replaceField(good, 2, b64().EncodeToString([]byte(`{"jti":1}`))), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: oversize", strings.Repeat("a", MaxTicketBytes+1), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: lifetime", signRaw(t, signer, func(c *Claims) {
			c.Expiry = c.IssuedAt.Add(MaxLifetime + DefaultSkew + time.Second)
		}), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: missing session", signRaw(t, signer, func(c *Claims) { c.SessionID = "" }), access.RoleGuest, testNow, access.ErrMalformed},
		{"malformed: unknown role", signRaw(t, signer, func(c *Claims) { c.Role = "admin" }), "", testNow, access.ErrMalformed},
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
	if _, err := v.Verify(mint(t, forger, testClaims()), access.RoleGuest); !errors.Is(err, access.ErrBadSignature) {
		t.Fatalf("forged ticket: %v, want access.ErrBadSignature", err)
	}
	if _, err := v.Verify(raw, access.RoleHost); !errors.Is(err, access.ErrWrongRole) {
		t.Fatalf("wrong role first: %v, want access.ErrWrongRole", err)
	}
	if _, err := v.Verify(raw, access.RoleGuest); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := v.Verify(raw, access.RoleGuest); !errors.Is(err, access.ErrReplayed) {
		t.Fatalf("second use: %v, want access.ErrReplayed", err)
	}
	// Without a replay cache (the Host reading its own ticket) the same ticket verifies again.
	v.Replay = nil
	if _, err := v.Verify(raw, access.RoleGuest); err != nil {
		t.Fatalf("no replay cache: %v", err)
	}
}

// TestVerifyWithRefusalLeavesTheTicketUnused: a ticket the caller's check refuses is not
// consumed, and a ticket that fails Verify's own checks never reaches the caller's check.
func TestVerifyWithRefusalLeavesTheTicketUnused(t *testing.T) {
	key := testKey(1)
	signer := testSigner(key)
	v := testVerifier(keySetOf(key), testNow)
	raw := mint(t, signer, testClaims())
	errRefused := errors.New("the caller refuses")
	calls := 0
	refuse := func(c *Claims) error {
		calls++
		if c.SessionID != "s-1" {
			t.Errorf("check saw claims %+v", c)
		}
		return errRefused
	}

	forger := testSigner(testKey(9))
	forger.KeyID = signer.KeyID
	if _, err := v.VerifyWith(mint(t, forger, testClaims()), access.RoleGuest, refuse); !errors.Is(err, access.ErrBadSignature) {
		t.Fatalf("forged ticket: %v, want access.ErrBadSignature", err)
	}
	if calls != 0 {
		t.Fatalf("the check ran %d times for a forged ticket", calls)
	}
	for range 2 {
		if _, err := v.VerifyWith(raw, access.RoleGuest, refuse); !errors.Is(err, errRefused) {
			t.Fatalf("refused by the check: %v, want its error", err)
		}
	}
	if calls != 2 || v.Replay.Len() != 0 {
		t.Fatalf("check ran %d times, %d ids remembered; want 2 and none", calls, v.Replay.Len())
	}
	if _, err := v.VerifyWith(raw, access.RoleGuest, func(*Claims) error { return nil }); err != nil {
		t.Fatalf("admitted by the check: %v", err)
	}
	if _, err := v.VerifyWith(raw, access.RoleGuest, nil); !errors.Is(err, access.ErrReplayed) {
		t.Fatalf("second use: %v, want access.ErrReplayed", err)
	}
}

func TestVerifySkewAndEmptyChecks(t *testing.T) {
	key := testKey(1)
	signer := testSigner(key)
	c := testClaims()
	c.Role = access.RoleHost
	raw := mint(t, signer, c)
	tests := []struct {
		name string
		v    Verifier
		want access.Role
		err  error
	}{
		{"inside default skew after expiry", Verifier{Keys: keySetOf(key), Now: at(testNow.Add(34 * time.Second))}, access.RoleHost, nil},
		{"inside default skew before start", Verifier{Keys: keySetOf(key), Now: at(testNow.Add(-4 * time.Second))}, access.RoleHost, nil},
		{"no skew before start", Verifier{Keys: keySetOf(key), Skew: -1, Now: at(testNow.Add(-time.Second))}, access.RoleHost, access.ErrNotYetValid},
		{"no skew at expiry", Verifier{Keys: keySetOf(key), Skew: -1, Now: at(testNow.Add(30 * time.Second))}, access.RoleHost, access.ErrExpired},
		{"empty audience and role accept any", Verifier{Keys: keySetOf(key), Now: at(testNow)}, "", nil},
		{"nil key set", Verifier{Now: at(testNow)}, access.RoleHost, access.ErrUnknownKey},
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
		_, err := (&Verifier{Keys: keys, Now: at(testNow)}).Verify(raw, access.RoleGuest)
		return err
	}
	if err := verify(newTicket); !errors.Is(err, access.ErrUnknownKey) {
		t.Fatalf("new key before rotation: %v, want access.ErrUnknownKey", err)
	}
	// Rotation publishes the new key next to the old one, then retires the old one.
	keys.Replace(keySetOf(oldKey, newKey).snapshot())
	if err := errors.Join(verify(oldTicket), verify(newTicket)); err != nil {
		t.Fatalf("during rotation: %v", err)
	}
	keys.Replace(keySetOf(newKey).snapshot())
	if err := verify(oldTicket); !errors.Is(err, access.ErrUnknownKey) {
		t.Fatalf("old key after rotation: %v, want access.ErrUnknownKey", err)
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
		{"lifetime above MaxLifetime", func(_ *Signer, c *Claims) { c.Expiry = testNow.Add(MaxLifetime + time.Second) }, access.ErrMalformed},
		{"expiry before not-before", func(_ *Signer, c *Claims) { c.Expiry = testNow.Add(-time.Second) }, access.ErrMalformed},
		{"missing expiry", func(_ *Signer, c *Claims) { c.Expiry = time.Time{} }, access.ErrMalformed},
		{"missing id", func(_ *Signer, c *Claims) { c.ID = "" }, access.ErrMalformed},
		{"missing session", func(_ *Signer, c *Claims) { c.SessionID = "" }, access.ErrMalformed},
		{"missing audience", func(_ *Signer, c *Claims) { c.Audience = "" }, access.ErrMalformed},
		{"missing host", func(_ *Signer, c *Claims) { c.HostID = "" }, access.ErrMalformed},
		{"unknown role", func(_ *Signer, c *Claims) { c.Role = "" }, access.ErrMalformed},
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

// TestReplayCacheFullIsOverloaded: a full replay cache refuses with the relay's "overloaded"
// code, and is still told apart from other refusals.
func TestReplayCacheFullIsOverloaded(t *testing.T) {
	err := fmt.Errorf("relay: %w", ErrReplayCacheFull)
	if got := access.CodeOf(err); got != access.ErrOverloaded {
		t.Errorf("access.CodeOf(%v) = %q, want %q", err, got, access.ErrOverloaded)
	}
	if !errors.Is(err, ErrReplayCacheFull) || errors.Is(access.ErrOverloaded, ErrReplayCacheFull) {
		t.Error("ErrReplayCacheFull is not its own sentinel")
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
