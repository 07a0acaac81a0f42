//go:build unix

package browser

import (
	"context"
	"os/exec"
)

// startDetached starts name with arg and reaps it in the background: openers may stay until the
// browser exits, and their output would garble the terminal.
func startDetached(ctx context.Context, name, arg string) error {
	cmd := exec.CommandContext(context.WithoutCancel(ctx), name, arg)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
