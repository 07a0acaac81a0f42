package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// inheritedPrefix starts a listen address that names a listening socket this process
// inherited: "fd:N". localstack hands its children their sockets this way, as a
// socket-activating service manager does, so that no other process can take a port between its
// choice and the bind.
const inheritedPrefix = "fd:"

// firstInheritedFD is the lowest descriptor a socket can be inherited as (after stdin, stdout
// and stderr).
const firstInheritedFD = 3

// listen returns a TCP listener on addr ("host:port"), or, for "fd:N", the listening socket
// inherited as file descriptor N (not on Windows, where Go cannot listen on an inherited
// socket).
func listen(addr string) (net.Listener, error) {
	fd, inherited := strings.CutPrefix(addr, inheritedPrefix)
	if !inherited {
		return net.Listen("tcp", addr)
	}
	n, err := strconv.ParseUint(fd, 10, 31)
	if err != nil || n < firstInheritedFD {
		return nil, fmt.Errorf("listen address %q: want fd:N with N a file descriptor of at least %d", addr, firstInheritedFD)
	}
	f := os.NewFile(uintptr(n), addr)
	defer f.Close() // the listener holds a copy of its own
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen on the inherited socket %s: %w", addr, err)
	}
	return ln, nil
}
