package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// testRelays: upsert creates, then replaces every field; list is ordered by id.
func testRelays(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	relays := []Relay{
		{ID: "cs-us-1", Addr: "us.example.com:1970", Region: "us-east", Owner: "vendor", Healthy: true, LastSeen: at(0)},
		{ID: "cs-eu-1", Addr: "eu.example.com:1970", Region: "eu-north", Owner: "vendor", Sessions: 3, BytesPerSec: 1 << 20, Healthy: true, LastSeen: at(0)},
		{ID: "cs-globex-1", Addr: "10.0.0.7:1970", Region: "eu-west", Owner: "globex", Private: true, LastSeen: at(0)},
	}
	for _, r := range relays {
		if err := db.UpsertRelay(ctx, r); err != nil {
			t.Fatalf("UpsertRelay %s: %v", r.ID, err)
		}
	}
	updated := Relay{ID: "cs-eu-1", Addr: "eu2.example.com:443", Region: "eu-central", Owner: "vendor", Sessions: 9, BytesPerSec: 7, Healthy: false, LastSeen: at(time.Minute),
		HTTPAddr: "http://eu2.example.com:80", MaxSessions: 5000}
	if err := db.UpsertRelay(ctx, updated); err != nil {
		t.Fatalf("UpsertRelay update: %v", err)
	}
	got, err := db.ListRelays(ctx)
	if err != nil {
		t.Fatalf("ListRelays: %v", err)
	}
	want := []Relay{updated, relays[2], relays[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListRelays = %+v\nwant %+v", got, want)
	}
	if err := db.UpsertRelay(ctx, Relay{Addr: "x:1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("relay without id: err = %v, want ErrInvalid", err)
	}
}

// testSessions: create, end once (first end wins), get, list with every filter.
func testSessions(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	s1 := Session{ID: "s1", DecisionID: "d1", Subject: "alice@example.com", HostID: "id-db-1", RelayID: "cs-eu-1",
		Transport: "tcp", Encryption: "very_high", Channels: []string{"shell", "exec"}, StartedAt: at(0)}
	s2 := Session{ID: "s2", DecisionID: "d2", Subject: "bob@example.com", HostID: "id-web-1", RelayID: "cs-eu-1",
		Transport: "http", Encryption: "very_high", Channels: []string{"shell"}, StartedAt: at(time.Minute), MaxDuration: 8 * time.Hour}
	for _, s := range []Session{s1, s2} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession %s: %v", s.ID, err)
		}
	}
	if err := db.CreateSession(ctx, s1); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate session: err = %v, want ErrConflict", err)
	}
	if err := db.CreateSession(ctx, Session{StartedAt: t0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("session without id: err = %v, want ErrInvalid", err)
	}

	if err := db.EndSession(ctx, "s1", t0.Add(time.Hour), 100, 2000, "guest closed"); err != nil {
		t.Fatalf("EndSession: %v", err)
	}
	if err := db.EndSession(ctx, "s1", t0.Add(2*time.Hour), 1, 1, "revoked"); err != nil {
		t.Fatalf("EndSession again: %v", err)
	}
	if err := db.EndSession(ctx, "nope", t0, 0, 0, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("end unknown session: err = %v, want ErrNotFound", err)
	}
	ended := s1
	ended.EndedAt, ended.BytesUp, ended.BytesDown, ended.EndReason = ptr(at(time.Hour)), 100, 2000, "guest closed"
	if got, err := db.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(got, ended) {
		t.Fatalf("GetSession = %+v, %v\nwant %+v (first end wins)", got, err, ended)
	}
	if _, err := db.GetSession(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get unknown session: err = %v, want ErrNotFound", err)
	}

	filters := []struct {
		name string
		f    SessionFilter
		want []Session
	}{
		{"all, newest first", SessionFilter{}, []Session{s2, ended}},
		{"live", SessionFilter{Live: ptr(true)}, []Session{s2}},
		{"ended", SessionFilter{Live: ptr(false)}, []Session{ended}},
		{"subject", SessionFilter{Subject: "alice@example.com"}, []Session{ended}},
		{"host", SessionFilter{HostID: "id-web-1"}, []Session{s2}},
		{"host and live", SessionFilter{HostID: "id-db-1", Live: ptr(true)}, nil},
		{"limit", SessionFilter{Limit: 1}, []Session{s2}},
		{"decision", SessionFilter{DecisionID: "d2"}, []Session{s2}},
		{"decision that allowed none", SessionFilter{DecisionID: "d3"}, nil},
	}
	for _, c := range filters {
		got, next, err := db.ListSessions(ctx, c.f)
		if err != nil {
			t.Fatalf("ListSessions %s: %v", c.name, err)
		}
		if more := c.f.Limit == 1; (next != "") != more {
			t.Errorf("ListSessions %s: next page %q, want one: %v", c.name, next, more)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ListSessions %s = %+v\nwant %+v", c.name, got, c.want)
		}
	}
}
