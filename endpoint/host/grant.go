package host

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
)

// channelPTY names the terminal that a shell needs, beside the channel kinds of package access.
const channelPTY = "pty"

// grant is what one authenticated connection may do: the Host's obligations, narrowed by the
// certificate's extensions.
type grant struct {
	obligations access.Obligations
	cert        *ssh.Certificate
}

// allows returns nil when the channel kind (or channelPTY) is allowed, else an error wrapping
// access.ErrChannelNotAllowed that says what is allowed instead.
func (g grant) allows(kind string) error {
	switch kind {
	case channelPTY:
		if !g.obligations.Allows(access.ChannelShell) {
			return g.notAllowed("a terminal (pty-req)")
		}
		return g.needsExtension(certs.ExtensionPermitPTY, "a terminal")
	case access.ChannelForward:
		if !g.obligations.Allows(access.ChannelForward) {
			return g.notAllowed(access.ChannelForward)
		}
		return g.needsExtension(certs.ExtensionPermitPortForwarding, "port forwarding")
	default:
		if !g.obligations.Allows(kind) {
			return g.notAllowed(kind)
		}
		return nil
	}
}

// needsExtension checks that the certificate carries the extension.
func (g grant) needsExtension(ext, what string) error {
	if _, ok := g.cert.Extensions[ext]; !ok {
		return fmt.Errorf("host: %w: %s needs the certificate's %s extension", access.ErrChannelNotAllowed, what, ext)
	}
	return nil
}

// notAllowed explains a refusal by the obligations.
func (g grant) notAllowed(what string) error {
	allowed := "nothing"
	if len(g.obligations.Channels) > 0 {
		allowed = strings.Join(g.obligations.Channels, ", ")
	}
	return fmt.Errorf("host: %w: %s (this session allows: %s)", access.ErrChannelNotAllowed, what, allowed)
}

// allowsForward checks a port-forwarding target against the obligations' ForwardTargets
// ("HOST:PORT", HOST may be "*").
func (g grant) allowsForward(host string, port uint32) error {
	if err := g.allows(access.ChannelForward); err != nil {
		return err
	}
	want := strconv.FormatUint(uint64(port), 10)
	for _, target := range g.obligations.ForwardTargets {
		h, p, err := net.SplitHostPort(target)
		if err == nil && p == want && (h == "*" || strings.EqualFold(h, host)) {
			return nil
		}
	}
	return fmt.Errorf("host: %w: forwarding to %s (allowed targets: %s)", access.ErrChannelNotAllowed,
		net.JoinHostPort(host, want), strings.Join(g.obligations.ForwardTargets, ", "))
}
