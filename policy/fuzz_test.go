package policy

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecideJSON feeds arbitrary bytes to DecideJSON: it must never panic, an error must
// always come with a refusal, and every refusal must give a reason.
func FuzzDecideJSON(f *testing.F) {
	for _, s := range stories(f) {
		raw, err := json.Marshal(s.in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, seed := range []string{"", "{}", "[]", "null", `{"subject": 1}`, `{"context": {"time": "yesterday"}}`, `{"request": {"channels": "shell"}}`} {
		f.Add([]byte(seed))
	}
	e := newEngine(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := e.DecideJSON(t.Context(), raw)
		d := res.Decision
		if err != nil && d.Allow {
			t.Fatalf("DecideJSON(%q) allowed despite error %v", raw, err)
		}
		if !d.Allow && len(d.Reasons) == 0 {
			t.Fatalf("DecideJSON(%q) refused without a reason", raw)
		}
	})
}

// FuzzReadBundle feeds ReadBundle arbitrary bytes, as a policy bundle file from an untrusted
// location would be: it must refuse what does not verify, never panic, and never accept a
// bundle that is not signed with the configured key.
func FuzzReadBundle(f *testing.F) {
	priv, pub := testKeys(f)
	var signed bytes.Buffer
	if err := WriteBundle(&signed, policyFS(`decision := {"allow": false}`), "r1", BundleSigning{KeyID: "k", Key: priv}); err != nil {
		f.Fatal(err)
	}
	f.Add(signed.Bytes())
	f.Add(craftedBundle(f, tarEntry{"authz.rego", 1 << 50, nil})) // a header claiming 2^50 bytes
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte("not a bundle"))
	verify := BundleVerification{KeyID: "k", Key: pub}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fsys, rev, err := ReadBundle(raw, verify)
		if err != nil {
			return
		}
		if fsys == nil || rev != "r1" {
			t.Fatalf("accepted a bundle with revision %q that was not the signed one", rev)
		}
	})
}
