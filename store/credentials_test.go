package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func testCredentialGrantsAndHeartbeatCounters(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	now := at(0)
	g := CredentialGrant{TokenHash: []byte("hash-1"), Subject: "alice@example.com", CertSerial: "1", GrantedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.RecordCredentialGrant(ctx, g); err != nil {
		t.Fatalf("first grant: %v", err)
	}
	if err := db.RecordCredentialGrant(ctx, g); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second grant of the same token: err = %v, want ErrReplayed", err)
	}
	// Two hours later the first record has expired and is forgotten; the same hash (a token
	// that could not verify any more anyway) may be recorded again.
	g.GrantedAt, g.ExpiresAt = now.Add(2*time.Hour), now.Add(3*time.Hour)
	if err := db.RecordCredentialGrant(ctx, g); err != nil {
		t.Fatalf("grant after expiry: %v", err)
	}
	if err := db.RecordCredentialGrant(ctx, CredentialGrant{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty hash: err = %v, want ErrInvalid", err)
	}

	h := Host{ID: "h1", Name: "db-1", Tags: map[string]string{}, CertSerial: "10", EnrolledAt: now}
	tok := EnrollmentToken{ID: "et1", Hash: []byte("et"), Tags: map[string]string{}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateEnrollmentToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EnrollHost(ctx, []byte("et"), h, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host    string
		counter int64
		want    error
	}{
		{"h1", 5, nil}, {"h1", 5, ErrReplayed}, {"h1", 4, ErrReplayed}, {"h1", 6, nil}, {"nope", 7, ErrNotFound},
	} {
		if err := db.AdvanceHeartbeatCounter(ctx, tc.host, tc.counter); !errors.Is(err, tc.want) {
			t.Errorf("counter %d for %s: err = %v, want %v", tc.counter, tc.host, err, tc.want)
		}
	}
	if err := db.SetHostCertSerial(ctx, "h1", "11"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetHost(ctx, "h1"); got.CertSerial != "11" {
		t.Errorf("serial = %q, want 11", got.CertSerial)
	}
	if err := db.SetHostCertSerial(ctx, "nope", "1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown host: err = %v", err)
	}
}
