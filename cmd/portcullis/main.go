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

	"github.com/portcullis/portcullis/access"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, err := newRootCmd().ExecuteContextC(ctx)
	var ee *exitError
	var ve *verifyError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ve):
		fmt.Fprintln(os.Stderr, "portcullis:", err)
		return ve.code
	default:
		fmt.Fprintln(os.Stderr, "portcullis:", hintFor(cmd, err))
		return access.ExitCode(err)
	}
}

// exitError ends the process with a given status and no further message (the remote
// command's own exit status, for example). Any other error exits with the code of the refusal
// it carries (access.ExitCode), or 1.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
