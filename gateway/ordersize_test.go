package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/store"
)

// An order to end a session fits in store.MaxMailBody whatever its reason: a reason that fits
// is kept whole, a longer one is cut at a character, as near the bound as it goes, and marked.
func TestEncodeOrderCutsOnlyAReasonThatDoesNotFit(t *testing.T) {
	t.Parallel()
	const id = "ses_01a2508de071463cc0313432486aa7d7"
	lockReason := api.ReasonPrefixLocked + strings.Repeat("<", maxLockReason) // the longest a lock gives
	cases := []struct {
		name, reason string
		cut          bool
	}{
		{"short", "locked: offboarding", false},
		{"the longest lock reason, escaped six times over", lockReason, false},
		{"no reason", "", false},
		{"long plain text", strings.Repeat("a", 2*store.MaxMailBody), true},
		{"long, escaped six times over", strings.Repeat("<", store.MaxMailBody), true},
		{"long, of multi-byte characters", strings.Repeat("é€😀", store.MaxMailBody), true},
		{"long, of bytes that are not UTF-8", strings.Repeat("\xff", store.MaxMailBody), true},
		{"megabytes", strings.Repeat("policy says no; ", 1<<16), true},
	}
	encoders := map[string]func(id, reason string) ([]byte, error){"host": hostOrder, "relay": relayOrder}
	for _, c := range cases {
		for who, encode := range encoders {
			t.Run(c.name+"/"+who, func(t *testing.T) {
				body, err := encode(id, c.reason)
				if err != nil {
					t.Fatal(err)
				}
				if len(body) > store.MaxMailBody {
					t.Fatalf("the order is %d bytes, more than %d", len(body), store.MaxMailBody)
				}
				var order struct {
					SessionID string `json:"session_id"`
					Reason    string `json:"reason"`
				}
				if err := json.Unmarshal(body, &order); err != nil || order.SessionID != id {
					t.Fatalf("the order %.80s… decodes to %+v, %v", body, order, err)
				}
				if !c.cut {
					if order.Reason != c.reason {
						t.Errorf("the reason became %.60q…, want it whole", order.Reason)
					}
					return
				}
				kept, marked := strings.CutSuffix(order.Reason, truncatedMark)
				var want string // the reason as JSON carries it: each byte not UTF-8 replaced
				if b, err := json.Marshal(c.reason); err != nil || json.Unmarshal(b, &want) != nil {
					t.Fatalf("encode the reason: %v", err)
				}
				if !marked || !strings.HasPrefix(want, kept) || !utf8.ValidString(kept) || len(kept) == 0 {
					t.Errorf("the reason became %.60q… (%d bytes); want a prefix of it marked %q", order.Reason, len(order.Reason), truncatedMark)
				}
				if len(body) < store.MaxMailBody-16 {
					t.Errorf("the order is %d bytes: cut shorter than the bound (%d) needs", len(body), store.MaxMailBody)
				}
			})
		}
	}
}
