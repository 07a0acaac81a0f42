package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pgtest"
)

func TestConsoleSessionsSQLite(t *testing.T) {
	testConsoleSessions(t, "sqlite:"+filepath.Join(t.TempDir(), "portcullis.db"))
}

func TestConsoleSessionsPostgres(t *testing.T) { testConsoleSessions(t, pgtest.Start(t)) }

// testConsoleSessions: a session stored by one replica is found by another (two pools on one
// database), sign-out deletes it for both, an expired one is refused and forgotten, and bad
// sessions change nothing.
func testConsoleSessions(t *testing.T, dsn string) {
	ctx := context.Background()
	a, b := openStore(t, dsn), openStore(t, dsn)
	hash := func(tok string) []byte { h := sha256.Sum256([]byte(tok)); return h[:] }
	carol := ConsoleSession{TokenHash: hash("carol"), Subject: "carol@example.com", Claims: []byte(`{"subject":"carol@example.com"}`),
		CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	if err := a.CreateConsoleSession(ctx, carol); err != nil {
		t.Fatal(err)
	}
	got, err := b.GetConsoleSession(ctx, hash("carol"), at(time.Minute))
	if err != nil || got.Subject != carol.Subject || string(got.Claims) != string(carol.Claims) ||
		!got.CreatedAt.Equal(carol.CreatedAt) || !got.ExpiresAt.Equal(carol.ExpiresAt) {
		t.Fatalf("the other replica reads %+v, %v; want %+v", got, err, carol)
	}
	if err := a.CreateConsoleSession(ctx, carol); !errors.Is(err, ErrConflict) {
		t.Errorf("a second session with the same token hash: %v, want ErrConflict", err)
	}
	for _, bad := range []ConsoleSession{
		{Subject: "x", CreatedAt: at(0), ExpiresAt: at(time.Hour)},
		{TokenHash: hash("x"), CreatedAt: at(0), ExpiresAt: at(time.Hour)},
		{TokenHash: hash("x"), Subject: "x", ExpiresAt: at(time.Hour)},
		{TokenHash: hash("x"), Subject: "x", CreatedAt: at(time.Hour), ExpiresAt: at(time.Hour)},
	} {
		if err := a.CreateConsoleSession(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateConsoleSession(%+v) = %v, want ErrInvalid", bad, err)
		}
		if _, err := b.GetConsoleSession(ctx, bad.TokenHash, at(0)); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused session was stored: %v", err)
		}
	}
	if _, err := b.GetConsoleSession(ctx, hash("forged"), at(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown token: %v, want ErrNotFound", err)
	}

	// Sign-out at a is refused at b at once.
	if err := a.DeleteConsoleSession(ctx, hash("carol")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetConsoleSession(ctx, hash("carol"), at(time.Minute)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a signed-out session at the other replica: %v, want ErrNotFound", err)
	}
	if err := b.DeleteConsoleSession(ctx, hash("carol")); err != nil {
		t.Errorf("signing out twice: %v", err)
	}

	// Expiry: refused at its end and forgotten; sign-ins sweep what expired.
	dave := ConsoleSession{TokenHash: hash("dave"), Subject: "dave@example.com", Claims: []byte(`{}`), CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	bob := ConsoleSession{TokenHash: hash("bob"), Subject: "bob@example.com", Claims: []byte(`{}`), CreatedAt: at(0), ExpiresAt: at(2 * time.Hour)}
	for _, s := range []ConsoleSession{dave, bob} {
		if err := a.CreateConsoleSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.GetConsoleSession(ctx, hash("dave"), at(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a session at its expiry: %v, want ErrNotFound", err)
	}
	if n := countConsoleSessions(t, a); n != 1 {
		t.Errorf("%d sessions kept after dave's expired, want bob's alone", n)
	}
	mallory := ConsoleSession{TokenHash: hash("mallory"), Subject: "mallory@example.com", Claims: []byte(`{}`), CreatedAt: at(3 * time.Hour), ExpiresAt: at(4 * time.Hour)}
	if err := b.CreateConsoleSession(ctx, mallory); err != nil {
		t.Fatal(err)
	}
	if n := countConsoleSessions(t, a); n != 1 {
		t.Errorf("%d sessions kept after a sign-in past bob's expiry, want the new one alone", n)
	}
	if n, err := a.DeleteExpiredConsoleSessions(ctx, at(4*time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredConsoleSessions = %d, %v; want 1", n, err)
	}
}

func countConsoleSessions(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.sql.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM console_sessions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
