package hostauth

import (
	"errors"
	"fmt"
)

// errConfirmPlatform explains why the confirm scheme does not run on a Windows Host.
var errConfirmPlatform = fmt.Errorf("hostauth: the confirm scheme is not supported on Windows: "+
	"its unix socket's file mode does not limit who may answer there, so any local user could accept a session; "+
	"use allowlist, password or rego in --auth-chain: %w", errors.ErrUnsupported)

// confirmPlatform refuses the confirm socket on Windows.
func confirmPlatform() error { return errConfirmPlatform }
