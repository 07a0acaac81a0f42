package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// newToken stores an enrollment token for secret, valid for an hour from t0, and returns its hash.
func newToken(t *testing.T, db *DB, secret string, tags map[string]string, tenant string) []byte {
	t.Helper()
	hash := sha256.Sum256([]byte(secret))
	err := db.CreateEnrollmentToken(context.Background(), EnrollmentToken{
		ID: "tok-" + secret, Hash: hash[:], Tags: tags, Tenant: tenant, CreatedBy: "dave@example.com",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	return hash[:]
}

// testTokenSingleUse: a token is consumed once; expired or unknown tokens are refused and an
// expired attempt does not burn the token.
func testTokenSingleUse(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	hash := newToken(t, db, "s3cret", map[string]string{"env": "prod"}, "acme")

	if _, err := db.ConsumeEnrollmentToken(ctx, hash, "h1", t0.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("consume at expiry: err = %v, want ErrTokenExpired", err)
	}
	tok, err := db.ConsumeEnrollmentToken(ctx, hash, "h1", t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("first consume: %v", err)
	}
	want := EnrollmentToken{
		ID: "tok-s3cret", Hash: hash, Tags: map[string]string{"env": "prod"}, Tenant: "acme",
		CreatedBy: "dave@example.com", CreatedAt: at(0), ExpiresAt: at(time.Hour), UsedAt: ptr(at(time.Minute)), UsedBy: "h1", Kind: TokenKindHost,
	}
	if !reflect.DeepEqual(tok, want) {
		t.Fatalf("consumed token = %+v, want %+v", tok, want)
	}
	if _, err := db.ConsumeEnrollmentToken(ctx, hash, "h2", t0.Add(2*time.Minute)); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("second consume: err = %v, want ErrTokenUsed", err)
	}
	unknown := sha256.Sum256([]byte("nope"))
	if _, err := db.ConsumeEnrollmentToken(ctx, unknown[:], "h3", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: err = %v, want ErrNotFound", err)
	}

	bad := []struct {
		name string
		tok  EnrollmentToken
		want error
	}{
		{"duplicate id", EnrollmentToken{ID: "tok-s3cret", Hash: []byte("other"), ExpiresAt: t0}, ErrConflict},
		{"duplicate hash", EnrollmentToken{ID: "tok-other", Hash: hash, ExpiresAt: t0}, ErrConflict},
		{"no id", EnrollmentToken{Hash: []byte("x"), ExpiresAt: t0}, ErrInvalid},
		{"no hash", EnrollmentToken{ID: "tok-x", ExpiresAt: t0}, ErrInvalid},
		{"no expiry", EnrollmentToken{ID: "tok-x", Hash: []byte("x")}, ErrInvalid},
	}
	for _, b := range bad {
		if err := db.CreateEnrollmentToken(ctx, b.tok); !errors.Is(err, b.want) {
			t.Errorf("create token with %s: err = %v, want %v", b.name, err, b.want)
		}
	}
}

// testTokenConcurrentConsume: of many concurrent consumers exactly one gets the token.
func testTokenConcurrentConsume(t *testing.T, dsn string) {
	const consumers = 8
	ctx := context.Background()
	db := openStore(t, dsn)
	hash := newToken(t, db, "race", nil, "acme")
	errs := make([]error, consumers)
	var wg sync.WaitGroup
	for i := range consumers {
		wg.Go(func() {
			_, errs[i] = db.ConsumeEnrollmentToken(ctx, hash, fmt.Sprintf("h%d", i), t0)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrTokenUsed):
			t.Errorf("consumer %d: err = %v, want nil or ErrTokenUsed", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d consumers got the token, want exactly 1", won)
	}
}

// testEnrollHostAtomic: enrolment consumes the token and creates the host together, or neither.
func testEnrollHostAtomic(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	tags := map[string]string{"env": "staging", "team": "web"}
	first := newToken(t, db, "first", tags, "acme")
	second := newToken(t, db, "second", nil, "acme")

	h, err := db.EnrollHost(ctx, first, Host{
		Name: "web-1", OS: "linux", Tenant: "ignored", Tags: map[string]string{"env": "prod"},
		PublicKey: []byte("ssh-ed25519 AAAA web-1"), CertSerial: "42",
	}, t0)
	if err != nil {
		t.Fatalf("EnrollHost: %v", err)
	}
	if h.ID == "" || h.Tenant != "acme" || !reflect.DeepEqual(h.Tags, tags) || !h.EnrolledAt.Equal(at(0)) {
		t.Fatalf("enrolled host = %+v: want a generated id, the token's tenant and tags, EnrolledAt %v", h, at(0))
	}
	got, err := db.GetHost(ctx, h.ID)
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Fatalf("GetHost = %+v, %v; want %+v", got, err, h)
	}
	if _, err := db.ConsumeEnrollmentToken(ctx, first, "again", t0); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("token after enrolment: err = %v, want ErrTokenUsed", err)
	}

	if _, err := db.EnrollHost(ctx, second, Host{Name: "web-1", OS: "linux"}, t0); !errors.Is(err, ErrConflict) {
		t.Fatalf("enrol duplicate name: err = %v, want ErrConflict", err)
	}
	if _, err := db.EnrollHost(ctx, first, Host{Name: "web-2"}, t0); !errors.Is(err, ErrTokenUsed) {
		t.Fatalf("enrol with a used token: err = %v, want ErrTokenUsed", err)
	}
	if _, err := db.GetHostByName(ctx, "web-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("host of a refused enrolment: err = %v, want ErrNotFound", err)
	}
	if _, err := db.EnrollHost(ctx, second, Host{}, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("enrol without a name: err = %v, want ErrInvalid", err)
	}
	if _, err := db.ConsumeEnrollmentToken(ctx, second, "later", t0); err != nil {
		t.Fatalf("token of the refused enrolments must still be unused: %v", err)
	}
}

// enrollHosts enrols the SCENARIOS hosts at t0 and returns them by name.
func enrollHosts(t *testing.T, db *DB) map[string]Host {
	t.Helper()
	hosts := map[string]Host{}
	for _, s := range []struct {
		name, tenant string
		tags         map[string]string
	}{
		{"web-1", "acme", map[string]string{"env": "staging", "team": "web"}},
		{"db-1", "acme", map[string]string{"env": "prod", "team": "data"}},
		{"kiosk-7", "globex", map[string]string{"env": "prod", "site": "store-7"}},
	} {
		hash := newToken(t, db, s.name, s.tags, s.tenant)
		h, err := db.EnrollHost(context.Background(), hash, Host{ID: "id-" + s.name, Name: s.name, OS: "linux"}, t0)
		if err != nil {
			t.Fatalf("EnrollHost %s: %v", s.name, err)
		}
		hosts[s.name] = h
	}
	return hosts
}

// testHosts: list order, disable, batch touch (forward only), delete.
func testHosts(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	hosts := enrollHosts(t, db)

	list, next, err := db.ListHosts(ctx, "", 0)
	if err != nil || next != "" {
		t.Fatalf("ListHosts: next %q, %v", next, err)
	}
	want := []Host{hosts["db-1"], hosts["kiosk-7"], hosts["web-1"]}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("ListHosts = %+v, want %+v", list, want)
	}
	byName, err := db.GetHostByName(ctx, "kiosk-7")
	if err != nil || !reflect.DeepEqual(byName, hosts["kiosk-7"]) {
		t.Fatalf("GetHostByName = %+v, %v", byName, err)
	}

	if err := db.SetHostDisabled(ctx, "id-db-1", true); err != nil {
		t.Fatalf("SetHostDisabled: %v", err)
	}
	if h, _ := db.GetHost(ctx, "id-db-1"); !h.Disabled {
		t.Fatal("db-1 not disabled")
	}
	if err := db.SetHostDisabled(ctx, "id-db-1", false); err != nil {
		t.Fatalf("re-enable: %v", err)
	}
	if h, _ := db.GetHost(ctx, "id-db-1"); h.Disabled {
		t.Fatal("db-1 still disabled")
	}
	if err := db.SetHostDisabled(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable unknown: err = %v, want ErrNotFound", err)
	}

	err = db.TouchHosts(ctx, map[string]HostSeen{
		"id-web-1": {At: t0.Add(time.Minute), RelayLatencies: map[string]int64{"cs-eu-1": 12}},
		"id-db-1":  {At: t0.Add(2 * time.Minute)}, "gone": {At: t0.Add(time.Hour)},
	})
	if err != nil {
		t.Fatalf("TouchHosts: %v", err)
	}
	if err := db.TouchHosts(ctx, map[string]HostSeen{"id-web-1": {At: t0.Add(-time.Minute), RelayLatencies: map[string]int64{"cs-eu-1": 999}}}); err != nil {
		t.Fatalf("TouchHosts (older): %v", err)
	}
	for name, seen := range map[string]time.Time{"web-1": at(time.Minute), "db-1": at(2 * time.Minute), "kiosk-7": at(0)} {
		if h, _ := db.GetHostByName(ctx, name); !h.LastSeen.Equal(seen) {
			t.Errorf("%s LastSeen = %v, want %v", name, h.LastSeen, seen)
		}
	}
	if h, _ := db.GetHostByName(ctx, "web-1"); h.RelayLatencies["cs-eu-1"] != 12 {
		t.Errorf("web-1 latencies = %v, want cs-eu-1 at 12 ms (an older sign of life does not replace them)", h.RelayLatencies)
	}
	if h, _ := db.GetHostByName(ctx, "db-1"); h.RelayLatencies != nil {
		t.Errorf("db-1 latencies = %v, want none reported", h.RelayLatencies)
	}

	if err := db.DeleteHost(ctx, "id-web-1"); err != nil {
		t.Fatalf("DeleteHost: %v", err)
	}
	if _, err := db.GetHost(ctx, "id-web-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted host: err = %v, want ErrNotFound", err)
	}
	if err := db.DeleteHost(ctx, "id-web-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: err = %v, want ErrNotFound", err)
	}
	if list, _, _ := db.ListHosts(ctx, "", 0); len(list) != 2 {
		t.Fatalf("%d hosts after delete, want 2", len(list))
	}
}

// testListHostsByPage: following the cursor lists every host once, by name, across pages of
// any size, while hosts enrol meanwhile (a later name is listed, an earlier one is not); a
// cursor the store did not make is refused.
func testListHostsByPage(t *testing.T, dsn string) {
	ctx := context.Background()
	db := openStore(t, dsn)
	const n = 2*MaxHostLimit + 345
	hash := func(name string) []byte { return newToken(t, db, name, map[string]string{"env": "prod"}, "acme") }
	var names []string
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		name := fmt.Sprintf("host-%05d", (i*7919)%n)
		names = append(names, name)
		h := hash(name)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := db.EnrollHost(ctx, h, Host{ID: "id-" + name, Name: name, OS: "linux"}, t0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, limit := range []int{0, MaxHostLimit, 777} {
		want := slices.Clone(names) // the hosts when the walk starts, and zz-late-… below
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			page, next, err := db.ListHosts(ctx, after, limit)
			if err != nil {
				t.Fatalf("limit %d, page %d: %v", limit, pages, err)
			}
			for _, h := range page {
				got = append(got, h.Name)
			}
			if next == "" {
				break
			}
			if pages == 0 { // enrolled during the walk: a-late-… sorts before its position, zz-late-… after it
				for _, name := range []string{fmt.Sprintf("a-late-%d", limit), fmt.Sprintf("zz-late-%d", limit)} {
					if _, err := db.EnrollHost(ctx, hash(name), Host{ID: "id-" + name, Name: name, OS: "linux"}, t0); err != nil {
						t.Fatal(err)
					}
					names = append(names, name)
				}
				want = append(want, fmt.Sprintf("zz-late-%d", limit))
			}
			after = next
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: listed %d hosts, want %d, each once, by name", limit, len(got), len(want))
		}
	}
	if _, _, err := db.ListHosts(ctx, "not-a-cursor", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("a cursor ListHosts did not make: err = %v, want ErrInvalid", err)
	}
}
