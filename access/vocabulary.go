package access

import (
	"fmt"
	"slices"
)

// Channel kinds a session may open, as listed in Obligations.Channels.
const (
	// ChannelShell is an interactive shell on a PTY.
	ChannelShell = "shell"
	// ChannelExec runs one command.
	ChannelExec = "exec"
	// ChannelSFTP is the sftp subsystem (file transfer).
	ChannelSFTP = "sftp"
	// ChannelForward is a port forward to one of Obligations.ForwardTargets.
	ChannelForward = "forward"
)

// Channels returns every channel kind, in the order the policy documents them.
func Channels() []string {
	return []string{ChannelShell, ChannelExec, ChannelSFTP, ChannelForward}
}

// Encryption levels, strongest first, as used by a connect request and Obligations.MinEncryption.
// Each end maps its level to an SSH algorithm set (package endpoint); the level names and their
// order live here.
const (
	// LevelVeryHigh is AES-256 with a post-quantum hybrid or 4096-bit DH key exchange.
	LevelVeryHigh = "very_high"
	// LevelHigh adds AES-128-GCM, ChaCha20-Poly1305 and curve25519 key exchange.
	LevelHigh = "high"
	// LevelMedium is every algorithm x/crypto/ssh considers secure.
	LevelMedium = "medium"
	// LevelFast is very_high's SSH algorithms end to end over relay legs that drop their TLS
	// once the CS has verified the ticket: the weakest level, because the hop-by-hop layer is gone.
	LevelFast = "fast"
	// DefaultLevel is the level used when none is named.
	DefaultLevel = LevelVeryHigh
)

// Levels returns the level names, weakest first.
func Levels() []string { return []string{LevelFast, LevelMedium, LevelHigh, LevelVeryHigh} }

// ValidLevel reports whether level names an encryption level ("" is DefaultLevel).
func ValidLevel(level string) bool {
	_, err := LevelRank(level)
	return err == nil
}

// LevelRank orders the levels: a higher rank is a stronger level. An unknown name is an error
// that wraps ErrUnknownLevel.
func LevelRank(level string) (int, error) {
	rank := slices.Index(Levels(), NormalizeLevel(level))
	if rank < 0 {
		return 0, fmt.Errorf("%w: %q (want %q, %q, %q or %q)", ErrUnknownLevel, level, LevelVeryHigh, LevelHigh, LevelMedium, LevelFast)
	}
	return rank, nil
}

// NormalizeLevel maps the empty level name to DefaultLevel.
func NormalizeLevel(level string) string {
	if level == "" {
		return DefaultLevel
	}
	return level
}

// LevelAtLeast reports whether level have is at least as strong as level min. An empty name
// means DefaultLevel; an unknown name on either side is never "at least" anything (fail closed).
func LevelAtLeast(have, min string) bool {
	h, errHave := LevelRank(have)
	m, errMin := LevelRank(min)
	return errHave == nil && errMin == nil && h >= m
}

// PlainLegs reports whether a session at level carries its SSH stream on the relay legs
// without TLS after the handshake: only at LevelFast (an unknown name never does).
func PlainLegs(level string) bool { return level == LevelFast }

// StrongerLevel returns the stronger of two levels ("" is DefaultLevel); an unknown name wins,
// so that configuring with it fails closed.
func StrongerLevel(a, b string) string {
	ra, errA := LevelRank(a)
	rb, errB := LevelRank(b)
	switch {
	case errA != nil:
		return a
	case errB != nil:
		return b
	case rb > ra:
		return NormalizeLevel(b)
	default:
		return NormalizeLevel(a)
	}
}

// Role says which half of a session a ticket admits.
type Role string

// The two roles of a session.
const (
	// RoleGuest is the user's side of a session.
	RoleGuest Role = "guest"
	// RoleHost is the controlled device's side of a session.
	RoleHost Role = "host"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r == RoleGuest || r == RoleHost }
