package host

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/internal/rawconn"
)

// serveForward serves a "direct-tcpip" channel: when the grant allows the target, the Host
// dials it and splices.
func (s *sshServer) serveForward(ctx context.Context, log *slog.Logger, g grant, nc ssh.NewChannel) {
	msg, err := parseDirectTCPIP(nc.ExtraData())
	if err == nil {
		err = g.allowsForward(msg.Host, msg.Port)
	}
	if err != nil {
		log.Info("forward refused", "reason", access.CodeOf(err), "err", err)
		_ = nc.Reject(ssh.Prohibited, err.Error())
		return
	}
	target := net.JoinHostPort(msg.Host, strconv.FormatUint(uint64(msg.Port), 10))
	dialer := net.Dialer{Timeout: ForwardDialTimeout}
	tc, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		log.Info("forward target unreachable", "target", target, "err", err)
		_ = nc.Reject(ssh.ConnectionFailed, fmt.Sprintf("the Host cannot reach %s", target))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = tc.Close()
		return
	}
	log.Info("forward started", "target", target)
	stop := context.AfterFunc(ctx, func() { _ = tc.Close() })
	defer stop()
	go func() {
		ssh.DiscardRequests(reqs)
		_ = tc.Close() // the channel is gone
	}()
	splice(ch, rawconn.Wrap(tc))
}

// splice copies both ways with half-close, then closes both ends.
func splice(ch ssh.Channel, tc net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = endpoint.CopyFromChannel(tc, ch)
		if cw, ok := tc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	})
	wg.Go(func() {
		_, _ = endpoint.CopyToChannel(ch, tc)
		_ = ch.CloseWrite()
	})
	wg.Wait()
	_ = ch.Close()
	_ = tc.Close()
}
