//go:build !unix && !windows

package browser

import (
	"context"
	"errors"
	"fmt"
)

// open has no opener to run on this platform.
func open(context.Context, string) error {
	return fmt.Errorf("no default browser opener on this platform: %w", errors.ErrUnsupported)
}
