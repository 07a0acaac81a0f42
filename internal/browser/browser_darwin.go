package browser

import "context"

// open runs macOS's open(1), which hands an http(s) URL to the default browser.
func open(ctx context.Context, address string) error {
	return startDetached(ctx, "open", address)
}
