package endpoint

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/sshtest"

	"golang.org/x/crypto/ssh"
)

func TestAlgorithms(t *testing.T) {
	veryHigh, err := Algorithms(access.LevelVeryHigh)
	if err != nil {
		t.Fatal(err)
	}
	want := ssh.Config{
		Ciphers:      []string{"aes256-gcm@openssh.com", "aes256-ctr"},
		MACs:         []string{"hmac-sha2-256-etm@openssh.com"},
		KeyExchanges: []string{"mlkem768x25519-sha256", "diffie-hellman-group16-sha512"},
	}
	if !slices.Equal(veryHigh.Ciphers, want.Ciphers) || !slices.Equal(veryHigh.MACs, want.MACs) || !slices.Equal(veryHigh.KeyExchanges, want.KeyExchanges) {
		t.Errorf("very_high = %+v, want %+v", veryHigh, want)
	}
	if def, _ := Algorithms(""); !slices.Equal(def.KeyExchanges, veryHigh.KeyExchanges) {
		t.Errorf("the default level is not very_high: %+v", def)
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
			if !subset(pair[0], pair[1]) || len(pair[1]) <= len(pair[0]) {
				t.Errorf("%s %q does not strictly contain %s %q", levels[i], pair[1], levels[i-1], pair[0])
			}
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
		{access.LevelVeryHigh, "ultra", false},
	}
	for _, tt := range tests {
		if got := access.LevelAtLeast(tt.have, tt.min); got != tt.want {
			t.Errorf("access.LevelAtLeast(%q, %q) = %v, want %v", tt.have, tt.min, got, tt.want)
		}
	}
}

// TestNegotiationStaysInTheHostsLevel connects Guests offering various algorithm sets to a
// very_high Host: the handshake either lands on very_high algorithms or fails with "no common
// algorithm".
func TestNegotiationStaysInTheHostsLevel(t *testing.T) {
	medium, err := Algorithms(access.LevelMedium)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		offer   ssh.Config
		wantKex string
		wantErr string // the part of the negotiation that fails; "" when it succeeds
	}{
		{"medium guest", medium, ssh.KeyExchangeMLKEM768X25519, ""},
		{"4096-bit DH with CTR", ssh.Config{
			KeyExchanges: []string{ssh.KeyExchangeDH16SHA512, ssh.KeyExchangeCurve25519},
			Ciphers:      []string{ssh.CipherAES128CTR, ssh.CipherAES256CTR},
			MACs:         medium.MACs,
		}, ssh.KeyExchangeDH16SHA512, ""},
		{"aes128-ctr only", ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}}, "", "cipher"},
		{"curve25519 only", ssh.Config{KeyExchanges: []string{ssh.KeyExchangeCurve25519}}, "", "key exchange"},
		{"hmac-sha1 only", ssh.Config{Ciphers: []string{ssh.CipherAES256CTR}, MACs: []string{ssh.HMACSHA1}}, "", "MAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			signer := f.clientConfig(t, f.Cert(t, nil)).Signer
			conn, served := hostConn(t, t.Context(), f.serverConfig())
			c, chans, reqs, err := ssh.NewClientConn(conn, "host", &ssh.ClientConfig{
				Config:          tt.offer,
				User:            sshtest.Principal,
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.FixedHostKey(f.HostKey.PublicKey()),
			})
			if tt.wantErr != "" {
				var negErr *ssh.AlgorithmNegotiationError
				if !errors.As(err, &negErr) || !strings.Contains(err.Error(), "no common algorithm for") || !strings.Contains(negErr.What, tt.wantErr) {
					t.Fatalf("handshake error %v, want no common algorithm for %s", err, tt.wantErr)
				}
				if err := served(); err == nil || !strings.Contains(err.Error(), "no common algorithm") {
					t.Errorf("ServeSSH = %v, want no common algorithm", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			client := ssh.NewClient(c, chans, reqs)
			defer client.Close()
			got := client.Conn.(ssh.AlgorithmsConnMetadata).Algorithms()
			allowed, _ := Algorithms(access.LevelVeryHigh)
			if got.KeyExchange != tt.wantKex {
				t.Errorf("key exchange %s, want %s", got.KeyExchange, tt.wantKex)
			}
			for _, dir := range []ssh.DirectionAlgorithms{got.Read, got.Write} {
				aead := strings.HasSuffix(dir.Cipher, "gcm@openssh.com")
				if !slices.Contains(allowed.Ciphers, dir.Cipher) || (!aead && !slices.Contains(allowed.MACs, dir.MAC)) {
					t.Errorf("negotiated %+v, outside very_high", dir)
				}
			}
			var out strings.Builder
			if code, err := Exec(t.Context(), client, "echo ok", &out, nil); err != nil || code != 0 || out.String() != "ok\n" {
				t.Errorf("Exec = %d, %v, %q", code, err, out.String())
			}
		})
	}
}
