package gateway

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/portcullis/portcullis/api"
)

// FuzzSignedHeartbeat: no byte string other than the one the Host signed is accepted as a
// heartbeat of that Host at that time, and parsing never panics.
func FuzzSignedHeartbeat(f *testing.F) {
	seed := [ed25519.SeedSize]byte{7}
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	hb := api.SignedHeartbeat{HostID: "h_1", Time: now, Counter: 42}
	hb.Signature = ed25519.Sign(key, hb.SigningBytes())
	valid, err := json.Marshal(hb)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"host_id":"h_1","time":"2026-11-24T09:00:00Z","counter":42,"signature":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"host_id":"h_1"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseSignedHeartbeat(body)
		if err != nil {
			return
		}
		if verifySignedHeartbeat(got, pub, now, time.Minute) != nil {
			return
		}
		// Accepted: it must be the signed heartbeat itself (JSON may differ in spelling only).
		if got.HostID != hb.HostID || !got.Time.Equal(hb.Time) || got.Counter != hb.Counter || !bytes.Equal(got.Signature, hb.Signature) {
			t.Fatalf("accepted a heartbeat the host never signed: %+v from %q", got, body)
		}
	})
}
