package endpoint

import (
	"testing"
	"unicode"

	"golang.org/x/crypto/ssh"
)

func TestParseExpiryWarning(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		want    uint32
		ok      bool
	}{
		{"seconds", ssh.Marshal(ExpiryWarning{Seconds: 60}), 60, true},
		{"empty", nil, 0, false},
		{"short", []byte{0, 0, 1}, 0, false},
		{"trailing bytes", append(ssh.Marshal(ExpiryWarning{Seconds: 5}), 9), 0, false},
	}
	for _, c := range cases {
		got, ok := ParseExpiryWarning(c.payload)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: ParseExpiryWarning = %d, %v; want %d, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseExpiryWarning: the Host's notice is bytes from the other end; decoding never panics
// and what decodes re-encodes to the same bytes.
func FuzzParseExpiryWarning(f *testing.F) {
	f.Add(ssh.Marshal(ExpiryWarning{Seconds: 60}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		secs, ok := ParseExpiryWarning(payload)
		if ok && string(ssh.Marshal(ExpiryWarning{Seconds: secs})) != string(payload) {
			t.Fatalf("payload %x decoded to %d, which encodes differently", payload, secs)
		}
	})
}

// FuzzParseEndNotice: the reason comes from the other end and is printed on the Guest's
// terminal; decoding never panics and never yields a control character.
func FuzzParseEndNotice(f *testing.F) {
	f.Add(ssh.Marshal(EndNotice{Reason: "locked: offboarding"}))
	f.Add(ssh.Marshal(EndNotice{Reason: "\x1b[2Jgotcha\n"}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		reason, ok := ParseEndNotice(payload)
		if !ok && reason != "" {
			t.Fatalf("a refused payload yields %q", reason)
		}
		for _, r := range reason {
			if !unicode.IsPrint(r) {
				t.Fatalf("the printed reason %q holds %U", reason, r)
			}
		}
	})
}
