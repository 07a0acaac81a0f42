package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// testEnrollRelay: a relay token enrols one relay of its tenant; a host token cannot enrol a
// relay, a relay token cannot enrol a host, and a failed enrollment burns nothing.
func testEnrollRelay(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	hostHash := newToken(t, db, "host-secret", nil, "globex")
	relayHash := sha256.Sum256([]byte("relay-secret"))
	if err := db.CreateEnrollmentToken(ctx, EnrollmentToken{
		ID: "tok-relay", Hash: relayHash[:], Tenant: "globex", CreatedBy: "dave@example.com", CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour), Kind: TokenKindRelay,
	}); err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	if _, err := db.EnrollRelay(ctx, hostHash, RelayIdentity{ID: "cs-globex-1"}, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("relay enrolled with a host token: err = %v, want ErrNotFound", err)
	}
	if _, err := db.EnrollHost(ctx, relayHash[:], Host{Name: "kiosk-7"}, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("host enrolled with a relay token: err = %v, want ErrNotFound", err)
	}
	ri, err := db.EnrollRelay(ctx, relayHash[:], RelayIdentity{ID: "cs-globex-1", CertSerial: "42"}, t0)
	if err != nil || ri.Tenant != "globex" {
		t.Fatalf("EnrollRelay = %+v, %v; want tenant globex", ri, err)
	}
	if _, err := db.EnrollRelay(ctx, relayHash[:], RelayIdentity{ID: "cs-globex-2"}, t0); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("second relay on one token: err = %v, want ErrTokenUsed", err)
	}
	got, err := db.GetRelayIdentity(ctx, "cs-globex-1")
	if err != nil || got.Tenant != "globex" || got.CertSerial != "42" || !got.EnrolledAt.Equal(at(0)) {
		t.Fatalf("GetRelayIdentity = %+v, %v", got, err)
	}
	if _, err := db.GetRelayIdentity(ctx, "cs-vendor-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown relay identity: err = %v, want ErrNotFound", err)
	}
	if err := db.CreateEnrollmentToken(ctx, EnrollmentToken{ID: "tok-x", Hash: []byte("x"), ExpiresAt: t0, Kind: "printer"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token of an unknown kind: err = %v, want ErrInvalid", err)
	}
}
