// Command portcullis is the one binary of Portcullis: the Connection Manager (cm), the
// Connection Server (cs), the Host agent (host), the Guest commands (login, exec, ssh), the
// administrator's tools (certs, token) and the local demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd().ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(os.Stderr, "portcullis:", err)
		return 1
	}
}

// exitError ends the process with a given status and no further message (the remote
// command's own exit status, for example).
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
