package endpoint

import (
	"errors"
	"time"
)

// HandshakeTimeout bounds the SSH handshake, authentication included, on both ends.
const HandshakeTimeout = 30 * time.Second

// ErrBadConfig reports an unusable configuration of either end (the Host's SSH server, the
// Guest's SSH client, the Host's account).
var ErrBadConfig = errors.New("endpoint: bad configuration")
