package access

import (
	"slices"
	"time"
)

// Obligations are the conditions a policy attaches to an allowed connection; the CM, the CS and
// the Host enforce them.
type Obligations struct {
	// MaxDurationSeconds bounds the session's length; 0 means the CM's default.
	MaxDurationSeconds int64 `json:"max_duration_seconds"`
	// MinEncryption is the weakest encryption level both ends may use ("very_high", "high", "medium").
	MinEncryption string `json:"min_encryption"`
	// Channels lists the channel kinds the Guest may open: "shell", "exec", "sftp", "forward".
	Channels []string `json:"channels"`
	// ForwardTargets lists the HOST:PORT targets a "forward" channel may reach.
	ForwardTargets []string `json:"forward_targets"`
	// RequireConfirm demands that the Host's local user accepts the session.
	RequireConfirm bool `json:"require_confirm"`
	// PrivateRelaysOnly restricts relay choice to the Host tenant's private relays.
	PrivateRelaysOnly bool `json:"private_relays_only"`
	// RelayRegions, when not empty, restricts relay choice to these regions.
	RelayRegions []string `json:"relay_regions"`
}

// Allows reports whether the obligations permit the channel kind.
func (o Obligations) Allows(channel string) bool {
	return slices.Contains(o.Channels, channel)
}

// MaxDuration returns MaxDurationSeconds as a duration.
func (o Obligations) MaxDuration() time.Duration {
	return time.Duration(o.MaxDurationSeconds) * time.Second
}

// Equal reports whether o and p bind a session alike (empty and nil lists are alike).
func (o Obligations) Equal(p Obligations) bool {
	return o.MaxDurationSeconds == p.MaxDurationSeconds && o.MinEncryption == p.MinEncryption &&
		slices.Equal(o.Channels, p.Channels) && slices.Equal(o.ForwardTargets, p.ForwardTargets) &&
		o.RequireConfirm == p.RequireConfirm && o.PrivateRelaysOnly == p.PrivateRelaysOnly &&
		slices.Equal(o.RelayRegions, p.RelayRegions)
}
