package ticket

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// publisher stands for the CM's GET /v1/ticket-keys: it serves its key set as JSON (or fails),
// and counts the fetches.
type publisher struct {
	mu      sync.Mutex
	keys    *KeySet
	fail    bool
	fetches atomic.Int64
}

func (p *publisher) publish(keys ...ed25519.PrivateKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys, p.fail = keySetOf(keys...), false
}

func (p *publisher) fetch(_ context.Context, keys *KeySet) error {
	p.fetches.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("503 unavailable")
	}
	doc, err := json.Marshal(p.keys)
	if err != nil {
		return err
	}
	return json.Unmarshal(doc, keys)
}

// keyStep is one ticket presented to a KeySource at a time after testNow.
type keyStep struct {
	at          time.Duration
	publish     []ed25519.PrivateKey // the CM's keys from this step on; nil keeps them
	cmDown      bool                 // the CM fails fetches from this step on
	tickets     int                  // how many tickets (default 1), each signed by signer
	signer      ed25519.PrivateKey
	want        error // nil, or the sentinel every ticket is refused with
	wantFetches int64 // the fetches made so far, after this step
}

func TestKeySourceFetchesThePublishedKeysWhenItNeedsThem(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	cases := []struct {
		name  string
		steps []keyStep
	}{
		{"the first ticket fetches the keys, the next within MaxAge does not", []keyStep{
			{at: 0, publish: []ed25519.PrivateKey{k1}, signer: k1, wantFetches: 1},
			{at: 30 * time.Second, signer: k1, wantFetches: 1},
		}},
		{"a ticket under a rotated key fetches the new keys at once", []keyStep{
			{at: 0, publish: []ed25519.PrivateKey{k1}, signer: k1, wantFetches: 1},
			{at: 11 * time.Second, publish: []ed25519.PrivateKey{k1, k2}, signer: k2, wantFetches: 2},
		}},
		{"a flood of unknown key ids costs the CM one fetch per interval", []keyStep{
			{at: 0, publish: []ed25519.PrivateKey{k1}, signer: k1, wantFetches: 1},
			{at: 11 * time.Second, tickets: 100, signer: testKey(9), want: access.ErrUnknownKey, wantFetches: 2},
			{at: 15 * time.Second, tickets: 100, signer: testKey(8), want: access.ErrUnknownKey, wantFetches: 2},
			{at: 22 * time.Second, tickets: 100, signer: testKey(7), want: access.ErrUnknownKey, wantFetches: 3},
		}},
		{"a key the CM retired stops verifying after MaxAge", []keyStep{
			{at: 0, publish: []ed25519.PrivateKey{k1}, signer: k1, wantFetches: 1},
			{at: 61 * time.Second, publish: []ed25519.PrivateKey{k2}, signer: k1, want: access.ErrUnknownKey, wantFetches: 2},
		}},
		{"a failed fetch keeps the keys it had", []keyStep{
			{at: 0, publish: []ed25519.PrivateKey{k1}, signer: k1, wantFetches: 1},
			{at: 61 * time.Second, cmDown: true, signer: k1, wantFetches: 2},
			{at: 75 * time.Second, signer: k2, want: access.ErrUnknownKey, wantFetches: 3},
		}},
		{"no keys at all refuse every ticket", []keyStep{
			{at: 0, cmDown: true, signer: k1, want: access.ErrUnknownKey, wantFetches: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pub publisher
			var now time.Time
			src := &KeySource{Fetch: pub.fetch, Now: func() time.Time { return now }}
			for i, st := range tc.steps {
				now = testNow.Add(st.at)
				switch {
				case st.publish != nil:
					pub.publish(st.publish...)
				case st.cmDown:
					pub.mu.Lock()
					pub.fail = true
					pub.mu.Unlock()
				}
				s := testSigner(st.signer)
				s.Now = func() time.Time { return now }
				for range max(st.tickets, 1) {
					c := testClaims()
					c.Expiry = now.Add(30 * time.Second)
					raw := mint(t, s, c)
					v := Verifier{Audience: testAudience, Now: func() time.Time { return now }}
					_, err := src.Verify(t.Context(), v, raw, access.RoleGuest, nil)
					if st.want == nil && err != nil || st.want != nil && !errors.Is(err, st.want) {
						t.Fatalf("step %d: Verify = %v, want %v", i, err, st.want)
					}
				}
				if got := pub.fetches.Load(); got != st.wantFetches {
					t.Fatalf("step %d: %d fetches, want %d", i, got, st.wantFetches)
				}
			}
		})
	}
}

func TestKeySourceSharesOneFetchAmongConcurrentTickets(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	var pub publisher
	pub.publish(k1)
	src := &KeySource{Fetch: pub.fetch, Now: func() time.Time { return testNow }}
	if _, err := src.Verify(t.Context(), Verifier{Now: func() time.Time { return testNow }}, mint(t, testSigner(k1), testClaims()), "", nil); err != nil {
		t.Fatal(err)
	}
	// The CM rotates; a burst of tickets under the new key arrives at once.
	pub.publish(k1, k2)
	src.Now = func() time.Time { return testNow.Add(DefaultKeyFetchInterval) }
	raw := mint(t, testSigner(k2), testClaims())
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := src.Verify(t.Context(), Verifier{Now: func() time.Time { return testNow }}, raw, "", nil); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if got := pub.fetches.Load(); got != 2 {
		t.Errorf("%d fetches, want 2: the first, and one for the whole burst", got)
	}
}
