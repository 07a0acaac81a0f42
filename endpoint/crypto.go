package endpoint

import (
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"
)

// Encryption levels, from the strongest. A policy names the weakest level it accepts
// (policy.Obligations.MinEncryption); each end configures SSH with the algorithm set of its own
// level, so the negotiated algorithms always come from the stricter end's set.
//
//	level      ciphers                              MACs (only for non-AEAD ciphers)   key exchange
//	---------  -----------------------------------  ---------------------------------  ------------------------------------
//	very_high  aes256-gcm@openssh.com               hmac-sha2-256-etm@openssh.com      mlkem768x25519-sha256 (PQ hybrid)
//	           aes256-ctr                                                              diffie-hellman-group16-sha512
//	high       very_high, plus                      very_high, plus                    very_high, plus
//	           aes128-gcm@openssh.com               hmac-sha2-512-etm@openssh.com      curve25519-sha256
//	           chacha20-poly1305@openssh.com
//	medium     everything x/crypto/ssh implements except what it marks insecure (ssh.SupportedAlgorithms):
//	           adds aes128-ctr, aes192-ctr; hmac-sha2-256/512, hmac-sha1; ecdh-sha2-nistp256/384/521,
//	           diffie-hellman-group14-sha256, diffie-hellman-group-exchange-sha256
//
// golang.org/x/crypto/ssh (v0.59) has no diffie-hellman-group18-sha512, so no level lists it.
// Each level's set contains the stronger levels' sets, so a "medium" client can still talk to
// a "very_high" Host and ends up with very_high algorithms.
const (
	// LevelVeryHigh is AES-256 with a post-quantum hybrid or 4096-bit DH key exchange.
	LevelVeryHigh = "very_high"
	// LevelHigh adds AES-128-GCM, ChaCha20-Poly1305 and curve25519 key exchange.
	LevelHigh = "high"
	// LevelMedium is every algorithm x/crypto/ssh considers secure.
	LevelMedium = "medium"
	// DefaultLevel is the level used when none is named.
	DefaultLevel = LevelVeryHigh
)

// ErrUnknownLevel reports an encryption level name that is not one of the Level constants.
var ErrUnknownLevel = errors.New("endpoint: unknown encryption level")

// Algorithms returns the SSH algorithm set of an encryption level ("" means DefaultLevel), for
// the Config embedded in ssh.ServerConfig and ssh.ClientConfig. The slices are fresh copies.
func Algorithms(level string) (ssh.Config, error) {
	veryHigh := ssh.Config{
		Ciphers:      []string{ssh.CipherAES256GCM, ssh.CipherAES256CTR},
		MACs:         []string{ssh.HMACSHA256ETM},
		KeyExchanges: []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeDH16SHA512},
	}
	switch normalizeLevel(level) {
	case LevelVeryHigh:
		return veryHigh, nil
	case LevelHigh:
		return ssh.Config{
			Ciphers:      slices.Concat(veryHigh.Ciphers, []string{ssh.CipherAES128GCM, ssh.CipherChaCha20Poly1305}),
			MACs:         slices.Concat(veryHigh.MACs, []string{ssh.HMACSHA512ETM}),
			KeyExchanges: slices.Concat(veryHigh.KeyExchanges, []string{ssh.KeyExchangeCurve25519}),
		}, nil
	case LevelMedium:
		supported := ssh.SupportedAlgorithms()
		return ssh.Config{
			Ciphers:      supported.Ciphers,
			MACs:         supported.MACs,
			KeyExchanges: supported.KeyExchanges,
		}, nil
	default:
		return ssh.Config{}, fmt.Errorf("%w: %q (want %q, %q or %q)", ErrUnknownLevel, level, LevelVeryHigh, LevelHigh, LevelMedium)
	}
}

// LevelAtLeast reports whether level have is at least as strong as level min. An empty name
// means DefaultLevel; an unknown name on either side is never "at least" anything (fail closed).
func LevelAtLeast(have, min string) bool {
	h, errHave := levelRank(have)
	m, errMin := levelRank(min)
	return errHave == nil && errMin == nil && h >= m
}

// StrongerLevel returns the stronger of two levels ("" is DefaultLevel); an unknown name wins,
// so that configuring with it fails closed.
func StrongerLevel(a, b string) string {
	ra, errA := levelRank(a)
	rb, errB := levelRank(b)
	switch {
	case errA != nil:
		return a
	case errB != nil:
		return b
	case rb > ra:
		return normalizeLevel(b)
	default:
		return normalizeLevel(a)
	}
}

// levelRank orders the levels: a higher rank is a stronger level.
func levelRank(level string) (int, error) {
	rank := slices.Index([]string{LevelMedium, LevelHigh, LevelVeryHigh}, normalizeLevel(level))
	if rank < 0 {
		return 0, fmt.Errorf("%w: %q", ErrUnknownLevel, level)
	}
	return rank, nil
}

// normalizeLevel maps the empty level name to DefaultLevel.
func normalizeLevel(level string) string {
	if level == "" {
		return DefaultLevel
	}
	return level
}
