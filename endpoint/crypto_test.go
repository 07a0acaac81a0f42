package endpoint

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
)

func TestAlgorithms(t *testing.T) {
	veryHigh, err := Algorithms(access.LevelVeryHigh)
	if err != nil {
		t.Fatal(err)
	}
	want := ssh.Config{
		Ciphers:      []string{"aes256-gcm@openssh.com", "aes256-ctr"},
		MACs:         []string{"hmac-sha2-256-etm@openssh.com"},
		KeyExchanges: []string{"mlkem768x25519-sha256", "curve25519-sha256", "diffie-hellman-group16-sha512"},
	}
	if !slices.Equal(veryHigh.Ciphers, want.Ciphers) || !slices.Equal(veryHigh.MACs, want.MACs) || !slices.Equal(veryHigh.KeyExchanges, want.KeyExchanges) {
		t.Errorf("very_high = %+v, want %+v", veryHigh, want)
	}
	if def, _ := Algorithms(""); !slices.Equal(def.KeyExchanges, veryHigh.KeyExchanges) {
		t.Errorf("the default level is not very_high: %+v", def)
	}
	// fast drops the relay legs' TLS, never the end-to-end algorithms: they are very_high's.
	if fast, err := Algorithms(access.LevelFast); err != nil || !slices.Equal(fast.Ciphers, want.Ciphers) ||
		!slices.Equal(fast.MACs, want.MACs) || !slices.Equal(fast.KeyExchanges, want.KeyExchanges) {
		t.Errorf("fast = %+v, %v; want very_high's %+v", fast, err, want)
	}
	// Each level contains the stronger ones, and everything is implemented by x/crypto/ssh.
	supported := ssh.SupportedAlgorithms()
	levels := []string{access.LevelVeryHigh, access.LevelHigh, access.LevelMedium}
	for i := 1; i < len(levels); i++ {
		stronger, _ := Algorithms(levels[i-1])
		weaker, err := Algorithms(levels[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2][]string{
			{stronger.Ciphers, weaker.Ciphers}, {stronger.MACs, weaker.MACs}, {stronger.KeyExchanges, weaker.KeyExchanges},
		} {
			if !subset(pair[0], pair[1]) {
				t.Errorf("%s %q does not contain %s %q", levels[i], pair[1], levels[i-1], pair[0])
			}
		}
		if len(weaker.Ciphers) <= len(stronger.Ciphers) {
			t.Errorf("%s allows no cipher beyond %s's", levels[i], levels[i-1])
		}
		if !subset(weaker.Ciphers, supported.Ciphers) || !subset(weaker.MACs, supported.MACs) || !subset(weaker.KeyExchanges, supported.KeyExchanges) {
			t.Errorf("%s names algorithms x/crypto/ssh does not implement securely: %+v", levels[i], weaker)
		}
	}
	// The returned slices are the caller's.
	veryHigh.Ciphers[0] = "changed"
	if again, _ := Algorithms(access.LevelVeryHigh); again.Ciphers[0] != "aes256-gcm@openssh.com" {
		t.Error("Algorithms shares its slices")
	}
	if _, err := Algorithms("ultra"); !errors.Is(err, access.ErrUnknownLevel) || !strings.Contains(err.Error(), `"ultra"`) {
		t.Errorf("Algorithms(ultra) = %v, want access.ErrUnknownLevel naming it", err)
	}
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func TestLevelAtLeast(t *testing.T) {
	tests := []struct {
		have, min string
		want      bool
	}{
		{access.LevelVeryHigh, access.LevelVeryHigh, true},
		{access.LevelVeryHigh, access.LevelMedium, true},
		{access.LevelHigh, access.LevelVeryHigh, false},
		{access.LevelHigh, access.LevelHigh, true},
		{access.LevelMedium, access.LevelHigh, false},
		{"", access.LevelVeryHigh, true},
		{access.LevelHigh, "", false},
		{"ultra", access.LevelMedium, false},
		{access.LevelFast, access.LevelFast, true},
		{access.LevelMedium, access.LevelFast, true},
		{access.LevelFast, access.LevelMedium, false},
		{access.LevelFast, "", false},
		{access.LevelVeryHigh, "ultra", false},
	}
	for _, tt := range tests {
		if got := access.LevelAtLeast(tt.have, tt.min); got != tt.want {
			t.Errorf("access.LevelAtLeast(%q, %q) = %v, want %v", tt.have, tt.min, got, tt.want)
		}
	}
}

func TestStrongerLevel(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"medium", "very_high", "very_high"},
		{"very_high", "high", "very_high"},
		{"", "high", "very_high"},
		{"high", "", "very_high"},
		{"medium", "medium", "medium"},
		{"fast", "fast", "fast"},
		{"fast", "medium", "medium"},
		{"", "fast", "very_high"},
		{"bogus", "high", "bogus"},
	}
	for _, tt := range tests {
		if got := access.StrongerLevel(tt.a, tt.b); got != tt.want {
			t.Errorf("access.StrongerLevel(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}
