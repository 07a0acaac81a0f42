package ticket

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestKeyID(t *testing.T) {
	a, b := testKey(1).Public().(ed25519.PublicKey), testKey(2).Public().(ed25519.PublicKey)
	if KeyID(a) != KeyID(a) || KeyID(a) == KeyID(b) {
		t.Fatalf("KeyID not stable or not distinct: %q %q", KeyID(a), KeyID(b))
	}
	if len(KeyID(a)) != keyIDHexChars || !validKeyID(KeyID(a)) {
		t.Fatalf("KeyID %q is not %d valid characters", KeyID(a), keyIDHexChars)
	}
}

func TestKeySetJSONRoundTrip(t *testing.T) {
	keys := keySetOf(testKey(1), testKey(2))
	data, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 2 || doc.Keys[0]["alg"] != "EdDSA" || doc.Keys[0]["kid"] >= doc.Keys[1]["kid"] {
		t.Fatalf("document %s: want two EdDSA keys sorted by kid", data)
	}
	var back KeySet
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	for kid, pub := range keys.snapshot() {
		got, ok := back.Lookup(kid)
		if !ok || !pub.Equal(got) {
			t.Fatalf("key %q lost in round trip", kid)
		}
	}
	empty, err := json.Marshal(NewKeySet(nil))
	if err != nil || string(empty) != `{"keys":[]}` {
		t.Fatalf("empty set = %s, %v", empty, err)
	}
}

func TestKeySetUnmarshalRefusals(t *testing.T) {
	x := b64().EncodeToString(testKey(1).Public().(ed25519.PublicKey))
	key := func(fields string) string { return `{"keys":[{` + fields + `}]}` }
	tests := []struct{ name, doc string }{
		{"keys not a list", `{"keys":{}}`},
		{"wrong alg", key(`"kid":"a","alg":"RS256","x":"` + x + `"`)},
		{"wrong kty", key(`"kid":"a","alg":"EdDSA","kty":"EC","x":"` + x + `"`)},
		{"wrong crv", key(`"kid":"a","alg":"EdDSA","crv":"X25519","x":"` + x + `"`)},
		{"bad kid", key(`"kid":"a.b","alg":"EdDSA","x":"` + x + `"`)},
		{"short x", key(`"kid":"a","alg":"EdDSA","x":"AAAA"`)},
		{"padded x", key(`"kid":"a","alg":"EdDSA","x":"` + x + `="`)},
		{"duplicate kid", `{"keys":[{"kid":"a","alg":"EdDSA","x":"` + x + `"},{"kid":"a","alg":"EdDSA","x":"` + x + `"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := keySetOf(testKey(3))
			before := keys.snapshot()
			if err := json.Unmarshal([]byte(tt.doc), keys); err == nil || !strings.Contains(err.Error(), "key set") {
				t.Fatalf("UnmarshalJSON(%s) = %v, want a key set error", tt.doc, err)
			}
			if len(keys.snapshot()) != len(before) {
				t.Fatal("a refused document changed the set")
			}
		})
	}
}

func TestKeySetConcurrentReplaceAndLookup(t *testing.T) {
	a, b := keySetOf(testKey(1)).snapshot(), keySetOf(testKey(2)).snapshot()
	keys := NewKeySet(a)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if (i+j)%2 == 0 {
					keys.Replace(a)
				} else {
					keys.Replace(b)
				}
				_, okA := keys.Lookup(KeyID(testKey(1).Public().(ed25519.PublicKey)))
				_, okB := keys.Lookup(KeyID(testKey(2).Public().(ed25519.PublicKey)))
				_ = okA || okB
			}
		})
	}
	wg.Wait()
	if n := len(keys.snapshot()); n != 1 {
		t.Fatalf("after concurrent replaces the set holds %d keys, want exactly one whole set", n)
	}
}
