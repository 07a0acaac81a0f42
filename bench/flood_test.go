package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// A measurement beside a flood may fail at any step; the flood must then end, even with every
// holder blocked in a Write that its peer never reads (net.Pipe), or the bench hangs.
func TestAFloodEndsWhenStoppedWithItsHoldersBlockedInWrites(t *testing.T) {
	fl := newSlowFlood(context.Background())
	var mu sync.Mutex
	var peers []net.Conn
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	const n = 50
	fl.loop(n, func() (net.Conn, error) {
		c, peer := net.Pipe() // nobody reads peer: the holder's first Write blocks
		mu.Lock()
		peers = append(peers, peer)
		mu.Unlock()
		return c, nil
	}, floodHello)
	deadline := time.Now().Add(10 * time.Second)
	for fl.opened.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d holders opened", fl.opened.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { fl.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return: holders blocked in Write ignore the flood's end")
	}
	fl.stop() // again: no effect
	if err := fl.ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("flood context after stop: %v", err)
	}
}

func TestFloodSpecRoundTripsAndRefusesBadSettings(t *testing.T) {
	good := floodSpec{transport: "http", addr: "http://127.0.0.1:80", caFile: "/tmp/ca.crt", n: 2000}
	if got, err := decodeFloodSpec(good.encode()); err != nil || got != good {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", good, got, err)
	}
	for _, bad := range []string{"", "tcp|a|b", "udp|a|b|1", "tcp|a|b|0", "tcp|a|b|x", "tcp|a|b|1|extra"} {
		if _, err := decodeFloodSpec(bad); err == nil {
			t.Errorf("decode(%q) accepted", bad)
		}
	}
}
