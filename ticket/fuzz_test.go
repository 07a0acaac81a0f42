package ticket

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
)

// fuzzSeeds returns valid tickets of both roles signed by testKey(1), plus near misses.
func fuzzSeeds(f *testing.F) []string {
	f.Helper()
	s := testSigner(testKey(1))
	guest := testClaims()
	host := testClaims()
	host.ID, host.Role = "t-2", access.RoleHost
	var seeds []string
	for _, c := range []Claims{guest, host} {
		raw, err := s.Mint(c)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, raw)
	}
	return append(seeds, "", "v1", "v1.a.e30.AA", "v1..."+seeds[0], seeds[0]+".")
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		kid, c, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, access.ErrMalformed) || c != nil || kid != "" {
				t.Fatalf("Parse error %v does not wrap access.ErrMalformed alone", err)
			}
			return
		}
		if !validKeyID(kid) || c.checkFields() != nil {
			t.Fatalf("Parse accepted kid %q claims %+v", kid, c)
		}
		// What Parse accepts re-encodes to claims Parse accepts with the same meaning.
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeClaims(data)
		if err != nil || !reflect.DeepEqual(normal(back), normal(c)) {
			t.Fatalf("re-encoded claims differ: %v\n got %+v\nwant %+v", err, back, c)
		}
	})
}

// normal drops distinctions JSON does not keep (nil versus empty slices and maps).
func normal(c *Claims) Claims {
	out := *c
	if len(out.Obligations.Channels) == 0 {
		out.Obligations.Channels = nil
	}
	if len(out.Obligations.ForwardTargets) == 0 {
		out.Obligations.ForwardTargets = nil
	}
	if len(out.Obligations.RelayRegions) == 0 {
		out.Obligations.RelayRegions = nil
	}
	return out
}

func FuzzVerify(f *testing.F) {
	seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	pub := testKey(1).Public().(ed25519.PublicKey)
	v := &Verifier{
		Keys:     NewKeySet(map[string]ed25519.PublicKey{KeyID(pub): pub}),
		Audience: testAudience,
		Now:      func() time.Time { return testNow },
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw, "")
		if err != nil {
			if c != nil || access.CodeOf(err) == access.ErrInternal {
				t.Fatalf("Verify refused with claims %+v or without a reason code: %v", c, err)
			}
			return
		}
		// Ed25519 and strict base64 leave a ticket one accepted spelling: only the minted
		// tickets verify.
		for _, s := range seeds[:2] {
			if raw == s {
				return
			}
		}
		t.Fatalf("Verify accepted a ticket that was never minted: %q", raw)
	})
}

func FuzzKeySetJSON(f *testing.F) {
	seed, err := json.Marshal(keySetOf(testKey(1), testKey(2)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var k KeySet
		if err := k.UnmarshalJSON(data); err != nil {
			return
		}
		// Every accepted key is a usable Ed25519 key, and the set survives a round trip.
		again, err := json.Marshal(&k)
		if err != nil {
			t.Fatal(err)
		}
		var back KeySet
		if err := back.UnmarshalJSON(again); err != nil {
			t.Fatalf("re-encoded set refused: %v", err)
		}
		for kid, pub := range k.snapshot() {
			if len(pub) != ed25519.PublicKeySize {
				t.Fatalf("key %q has %d bytes", kid, len(pub))
			}
			if got, ok := back.Lookup(kid); !ok || !got.Equal(pub) {
				t.Fatalf("key %q lost in round trip", kid)
			}
		}
	})
}
