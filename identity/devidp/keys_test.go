package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

func TestAGivenSigningKeyKeepsItsIDAcrossProviders(t *testing.T) {
	key, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	a, errA := firstKey(key)
	b, errB := firstKey(key)
	fresh, errC := firstKey(nil)
	if errA != nil || errB != nil || errC != nil {
		t.Fatal(errA, errB, errC)
	}
	if a.id != b.id || a.id == fresh.id {
		t.Errorf("key ids: given %s and %s, fresh %s; want the given key's id stable and a fresh key's different", a.id, b.id, fresh.id)
	}
	p, err := New(t.Context(), Config{Issuer: "https://127.0.0.1:1/idp", SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.store.keys.current().id; got != a.id {
		t.Errorf("the provider signs with key %s, want the given key %s", got, a.id)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(t.Context(), Config{Issuer: "https://127.0.0.1:1/idp", SigningKey: weak}); err == nil {
		t.Error("a 1024-bit signing key was accepted")
	}
}
