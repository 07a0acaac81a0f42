//go:build unix && !darwin

package browser

import (
	"context"
)

// open runs xdg-open, the freedesktop opener of the default browser, without waiting for it.
func open(ctx context.Context, address string) error {
	return startDetached(ctx, "xdg-open", address)
}
