package localstack

import (
	"fmt"
	"net"
)

// socket is a loopback listening socket the stack opens for a child: the child serves on it
// (see handoff), so its port is never free between the choice and the child's bind.
type socket struct {
	ln *net.TCPListener
	// addr is its address, "127.0.0.1:PORT".
	addr string
}

// listenLoopback opens a listening socket on a port of 127.0.0.1 the system chooses.
func listenLoopback() (*socket, error) {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("localstack: listen on loopback: %w", err)
	}
	return &socket{ln: ln, addr: ln.Addr().String()}, nil
}

// close closes the stack's copy of the socket; a child that inherited it serves on.
func (s *socket) close() { _ = s.ln.Close() }
