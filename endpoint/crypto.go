package endpoint

import (
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
)

// Encryption levels, from the strongest. A policy names the weakest level it accepts
// (access.Obligations.MinEncryption); each end configures SSH with the algorithm set of its own
// level, so the negotiated algorithms always come from the stricter end's set.
//
//	level      ciphers                              MACs (only for non-AEAD ciphers)   key exchange
//	---------  -----------------------------------  ---------------------------------  ------------------------------------
//	very_high  aes256-gcm@openssh.com               hmac-sha2-256-etm@openssh.com      mlkem768x25519-sha256 (PQ hybrid)
//	           aes256-ctr                                                              curve25519-sha256
//	                                                                                   diffie-hellman-group16-sha512
//	high       very_high, plus                      very_high, plus                    very_high
//	           aes128-gcm@openssh.com               hmac-sha2-512-etm@openssh.com
//	           chacha20-poly1305@openssh.com
//	medium     everything x/crypto/ssh implements except what it marks insecure (ssh.SupportedAlgorithms):
//	           adds aes128-ctr, aes192-ctr; hmac-sha2-256/512, hmac-sha1; ecdh-sha2-nistp256/384/521,
//	           diffie-hellman-group14-sha256, diffie-hellman-group-exchange-sha256
//	fast       very_high's algorithms; the relay legs drop their TLS once paired (package relay),
//	           so the SSH layer is the session's only encryption on the way
//
// golang.org/x/crypto/ssh (v0.59) has no diffie-hellman-group18-sha512, so no level lists it.
// curve25519-sha256 (about 128-bit security, like 3072-bit DH) is stronger than the 2048-bit
// DH that the specification names as the floor, and far faster than 4096-bit DH: OpenSSH
// clients before 9.9, which lack mlkem768x25519-sha256, pick it first at very_high.
// Each level's set contains the stronger levels' sets, so a "medium" client can still talk to
// a "very_high" Host and ends up with very_high algorithms.
// Algorithms returns the SSH algorithm set of an encryption level ("" means access.DefaultLevel), for
// the Config embedded in ssh.ServerConfig and ssh.ClientConfig. The slices are fresh copies.
func Algorithms(level string) (ssh.Config, error) {
	veryHigh := ssh.Config{
		Ciphers:      []string{ssh.CipherAES256GCM, ssh.CipherAES256CTR},
		MACs:         []string{ssh.HMACSHA256ETM},
		KeyExchanges: []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, ssh.KeyExchangeDH16SHA512},
	}
	switch access.NormalizeLevel(level) {
	case access.LevelVeryHigh, access.LevelFast:
		return veryHigh, nil
	case access.LevelHigh:
		return ssh.Config{
			Ciphers:      slices.Concat(veryHigh.Ciphers, []string{ssh.CipherAES128GCM, ssh.CipherChaCha20Poly1305}),
			MACs:         slices.Concat(veryHigh.MACs, []string{ssh.HMACSHA512ETM}),
			KeyExchanges: veryHigh.KeyExchanges,
		}, nil
	case access.LevelMedium:
		supported := ssh.SupportedAlgorithms()
		return ssh.Config{
			Ciphers:      supported.Ciphers,
			MACs:         supported.MACs,
			KeyExchanges: supported.KeyExchanges,
		}, nil
	default:
		_, err := access.LevelRank(level)
		return ssh.Config{}, fmt.Errorf("endpoint: %w", err)
	}
}
