package identity

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// TestARememberedSignatureStillHasItsClaimsChecked: a token verified a moment ago is accepted
// again with the claims decoded the first time, but its expiry is checked on every Verify; a
// tampered copy is still refused.
func TestARememberedSignatureStillHasItsClaimsChecked(t *testing.T) {
	t.Parallel()
	ki := newKeyIssuer(t)
	var ahead atomic.Int64
	cfg := ki.config()
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	v, err := NewVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw := ki.token(t, nil) // expires in one hour
	var got [2]Claims
	for i := range got {
		if got[i], err = v.Verify(t.Context(), raw); err != nil {
			t.Fatalf("Verify #%d: %v", i+1, err)
		}
	}
	if reflect.ValueOf(got[0].Raw).UnsafePointer() != reflect.ValueOf(got[1].Raw).UnsafePointer() {
		t.Error("the second Verify decoded the remembered token's claims again")
	}
	if got[1].Subject != "alice@example.com" || !slices.Equal(got[1].Groups, []string{"ops"}) {
		t.Errorf("remembered claims map to %+v", got[1])
	}
	if _, ok := v.verified.get(sha256.Sum256([]byte(raw)), time.Now()); !ok {
		t.Fatal("the verified signature is not remembered")
	}
	if _, err := v.Verify(t.Context(), tamper(t, raw)); !errors.Is(err, access.ErrBadSignature) {
		t.Fatalf("tampered copy of a remembered token = %v, want ErrBadSignature", err)
	}
	ahead.Store(int64(2 * time.Hour))
	if _, err := v.Verify(t.Context(), raw); !errors.Is(err, access.ErrExpired) {
		t.Fatalf("remembered token past its expiry = %v, want ErrExpired", err)
	}
}

func TestVerifiedTokens(t *testing.T) {
	t0 := time.Now()
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i), byte(i >> 8)}) }
	tests := []struct {
		name  string
		fill  int           // tokens put at t0
		ask   int           // the token asked for
		at    time.Duration // after t0
		found bool
	}{
		{"just verified", 1, 0, 0, true},
		{"within the lifetime", 1, 0, verifiedTokenTTL - time.Second, true},
		{"lapsed", 1, 0, verifiedTokenTTL, false},
		{"never verified", 1, 1, 0, false},
		{"forgotten when full", maxVerifiedTokens + 1, 0, 0, false},
		{"the newest kept when full", maxVerifiedTokens + 1, maxVerifiedTokens, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vt verifiedTokens
			for i := range tt.fill {
				vt.put(key(i), map[string]any{"sub": i}, t0)
			}
			if _, ok := vt.get(key(tt.ask), t0.Add(tt.at)); ok != tt.found {
				t.Fatalf("get = %v, want %v", ok, tt.found)
			}
		})
	}
}
