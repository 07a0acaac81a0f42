// Package browser opens a web address in the desktop's default browser: xdg-open on Linux and
// the BSDs, open on macOS, the shell's URL handler (ShellExecute) on Windows. Only http and https
// addresses are opened: an address handed to the desktop's opener could otherwise name a local
// program or file (file:, a Windows path) that it would run.
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNotWebAddress is returned for an address that is not an absolute http or https URL.
var ErrNotWebAddress = errors.New("browser: not an http or https address")

// Open asks the desktop to show address in the default browser. It returns once the opener
// has started; the browser may still fail to show the page, so callers print the address too.
func Open(ctx context.Context, address string) error {
	if err := Check(address); err != nil {
		return err
	}
	if err := open(ctx, address); err != nil {
		return fmt.Errorf("browser: open %s: %w", address, err)
	}
	return nil
}

// Check accepts only an absolute http or https URL with a host and no control characters or
// spaces (which an opener's command line could split on).
func Check(address string) error {
	if strings.ContainsFunc(address, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: %q contains spaces or control characters", ErrNotWebAddress, address)
	}
	u, err := url.Parse(address)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotWebAddress, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: %q", ErrNotWebAddress, address)
	}
	return nil
}
