package policy

import (
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
