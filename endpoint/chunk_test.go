package endpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/internal/testcert"
)

// recordCounter counts the TLS records in the bytes read through it (the raw side of a TLS
// server connection).
type recordCounter struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
	records int
}

func (r *recordCounter) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = append(r.pending, p[:n]...)
	for len(r.pending) >= 5 {
		size := 5 + int(binary.BigEndian.Uint16(r.pending[3:5]))
		if len(r.pending) < size {
			break
		}
		r.pending = r.pending[size:]
		r.records++
	}
	return n, err
}

func (r *recordCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

// A stream copied to a channel of an SSH connection at the very_high level, over TLS through
// the relayed connection's wrapper, leaves in two TLS records per packet; 32 KiB packets
// written as they come would take three.
func TestAChannelStreamTakesTwoTLSRecordsPerPacket(t *testing.T) {
	serverTLS, clientTLS := testcert.TLS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	algos, err := Algorithms("very_high")
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	const size = 3 << 19 // within the channel's first window (2 MiB), so no packet waits for more
	counter := make(chan *recordCounter, 1)
	received := make(chan []byte, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		rc := &recordCounter{Conn: raw}
		counter <- rc
		conf := &ssh.ServerConfig{Config: algos, NoClientAuth: true}
		conf.AddHostKey(signer)
		_, chans, reqs, err := ssh.NewServerConn(tls.Server(rc, serverTLS), conf)
		if err != nil {
			received <- nil
			return
		}
		go ssh.DiscardRequests(reqs)
		nc := <-chans
		ch, creqs, err := nc.Accept()
		if err != nil {
			received <- nil
			return
		}
		go ssh.DiscardRequests(creqs)
		got, _ := io.ReadAll(ch)
		received <- got
		_ = ch.Close()
	}()
	tc, err := dialTLS(context.Background(), ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	conn := graceful(tc)
	defer conn.Close()
	cconf := &ssh.ClientConfig{Config: algos, User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	sc, chans, reqs, err := ssh.NewClientConn(conn, "relay", cconf)
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	ch, _, err := client.OpenChannel("bulk", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := <-counter
	before := rc.count()
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	if n, err := CopyToChannel(ch, bytes.NewReader(payload)); n != size || err != nil {
		t.Fatalf("CopyToChannel = %d, %v", n, err)
	}
	_ = ch.CloseWrite()
	if got := <-received; !bytes.Equal(got, payload) {
		t.Fatalf("the server received %d bytes, differing from the %d sent", len(got), size)
	}
	packets := (size + ChannelChunk - 1) / ChannelChunk
	// A few more records carry the channel's end and the server's window adjustments' answers.
	if records := rc.count() - before; records > 2*packets+8 {
		t.Fatalf("%d packets of data took %d TLS records, want at most 2 each", packets, records)
	}
}
