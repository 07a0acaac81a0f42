package cmlink_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/ticket"
)

// TestARegistrationStuckOnAHungReplicaIsGivenUpInTime: the CM ends the sessions of a relay
// whose reports stop for its relay-stale time (3 s by default). A registration sent to a
// replica that accepted the connection and then hung (no reset reaches the relay) is given up
// after registerTimeout and sent again on a new connection; without that bound it waited for
// the hung replica for good.
func TestARegistrationStuckOnAHungReplicaIsGivenUpInTime(t *testing.T) {
	c := startCM(t)
	front := hangFirstConnections(t, c.addr, 2) // the registration's and the command poll's
	l := at(c.link("cs-hang", c.vendorClient(t, "cs-hang")), "https://"+front)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	start := time.Now()
	go func() { defer close(done); l.Run(ctx, newFakeRelay(), ticket.NewKeySet(nil)) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the relay's registration", func() bool {
		all, err := c.store.ListRelays(t.Context())
		return err == nil && len(all) == 1 && all[0].ID == "cs-hang"
	})
	t.Logf("registered %v after the first registration hung (registerTimeout 1.5 s, then 250 ms)", time.Since(start))
}

// hangFirstConnections listens on a new address in front of backend: it accepts the first n
// connections and never answers them, and joins every later one to backend.
func hangFirstConnections(t *testing.T, backend string, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		var hung []net.Conn
		defer func() {
			for _, c := range hung {
				_ = c.Close()
			}
		}()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if len(hung) < n {
				hung = append(hung, conn)
				continue
			}
			wg.Go(func() { joinTo(conn, backend) })
		}
	})
	return ln.Addr().String()
}

// joinTo copies between conn and a new connection to addr until either side closes.
func joinTo(conn net.Conn, addr string) {
	defer func() { _ = conn.Close() }()
	back, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer func() { _ = back.Close() }()
	go func() { _, _ = io.Copy(back, conn); _ = back.Close() }()
	_, _ = io.Copy(conn, back)
}
