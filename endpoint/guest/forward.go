package guest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/rawconn"
)

// ErrBadForward reports a forward specification that is not [LOCALPORT:]TARGET:PORT.
var ErrBadForward = errors.New("guest: forward must be [LOCALPORT:]TARGET:PORT")

// ForwardSpec is a local port forwarded to a target the Host dials.
type ForwardSpec struct {
	// LocalPort is the loopback port the Guest listens on; 0 picks a free one.
	LocalPort int
	// Target is HOST:PORT as the Host dials it.
	Target string
}

// ParseForwardSpec parses "[LOCALPORT:]TARGET:PORT" (TARGET may be a bracketed IPv6 address).
func ParseForwardSpec(spec string) (ForwardSpec, error) {
	var local string
	if i := strings.Index(spec, ":"); i >= 0 && strings.Count(spec, ":") >= 2 && !strings.HasPrefix(spec, "[") {
		local, spec = spec[:i], spec[i+1:]
	}
	host, port, err := net.SplitHostPort(spec)
	if err != nil || host == "" {
		return ForwardSpec{}, fmt.Errorf("%w: %q", ErrBadForward, spec)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return ForwardSpec{}, fmt.Errorf("%w: bad target port %q", ErrBadForward, port)
	}
	fs := ForwardSpec{Target: net.JoinHostPort(host, port)}
	if local != "" {
		lp, err := strconv.ParseUint(local, 10, 16)
		if err != nil {
			return ForwardSpec{}, fmt.Errorf("%w: bad local port %q", ErrBadForward, local)
		}
		fs.LocalPort = int(lp)
	}
	return fs, nil
}

// ListenForward listens on the loopback address only, never on other interfaces.
func ListenForward(spec ForwardSpec) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.LocalPort)))
	if err != nil {
		return nil, fmt.Errorf("guest: listen for the forward: %w", err)
	}
	return ln, nil
}

// Forward accepts connections on ln until ctx ends or the SSH connection closes, and carries
// each through a direct-tcpip channel to target, which the Host dials only when the session's
// obligations list it. A refused or failed channel closes that one local connection and is
// logged (the refusal says which targets are allowed); the forward goes on.
func Forward(ctx context.Context, c *ssh.Client, ln net.Listener, target string, log *slog.Logger) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	go func() {
		_ = c.Wait()
		_ = ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		local, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("guest: forward ended: %w", err)
		}
		wg.Go(func() { forwardOne(c, rawconn.Wrap(local), target, log) })
	}
}

// forwardOne carries one local connection to target.
func forwardOne(c *ssh.Client, local net.Conn, target string, log *slog.Logger) {
	defer local.Close()
	remote, err := c.Dial("tcp", target)
	if err != nil {
		log.Warn("forward refused", "target", target, "err", prohibited(err))
		return
	}
	defer remote.Close()
	go func() {
		_, _ = endpoint.CopyToChannel(remote, local)
		if cw, ok := remote.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	_, _ = endpoint.CopyFromChannel(local, remote) // the target's answer; then both ends close
}
