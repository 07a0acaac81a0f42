package ticket

import (
	"fmt"

	"github.com/portcullis/portcullis/access"
)

// Verify and the replay cache refuse with the codes of package access: access.ErrMalformed,
// ErrUnknownKey, ErrBadSignature, ErrWrongRole, ErrWrongAudience, ErrNotYetValid, ErrExpired and
// ErrReplayed, each wrapped with the detail; check with errors.Is and map to the wire with
// access.CodeOf.

// ErrReplayCacheFull means the replay cache holds MaxReplayEntries unexpired ids and refuses new
// ones rather than forget any (fail closed). It wraps access.ErrOverloaded, its wire code.
var ErrReplayCacheFull = fmt.Errorf("ticket: replay cache full: %w", access.ErrOverloaded)
