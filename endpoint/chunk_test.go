package endpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
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

// packetLog is a channel that records the size of each write; it fails the write after
// failAfter writes when failAfter > 0, and writes nothing from then on when short is set.
type packetLog struct {
	bytes.Buffer
	sizes     []int
	failAfter int
	short     bool
}

var errChannelClosed = errors.New("channel closed")

func (w *packetLog) Write(p []byte) (int, error) {
	if w.failAfter > 0 && len(w.sizes) == w.failAfter {
		if w.short {
			return 0, nil
		}
		return 0, errChannelClosed
	}
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

func TestCopyToChannel(t *testing.T) {
	payload := bytes.Repeat([]byte("portcullis"), 100_000) // 1,000,000 bytes
	tests := []struct {
		name      string
		failAfter int
		short     bool
		wantErr   error
		wantN     int64
	}{
		{name: "whole stream", wantN: int64(len(payload))},
		{name: "channel fails", failAfter: 5, wantErr: errChannelClosed, wantN: 5 * ChannelChunk},
		{name: "channel takes nothing", failAfter: 3, short: true, wantErr: io.ErrShortWrite, wantN: 3 * ChannelChunk},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &readLog{data: payload}
			dst := &packetLog{failAfter: tc.failAfter, short: tc.short}
			n, err := CopyToChannel(dst, src)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) {
				t.Fatalf("CopyToChannel = %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
			if !bytes.Equal(dst.Bytes(), payload[:n]) {
				t.Fatal("the channel received other bytes than were read")
			}
			for i, size := range dst.sizes {
				if size > ChannelChunk {
					t.Fatalf("packet %d carries %d bytes, more than ChannelChunk (%d)", i, size, ChannelChunk)
				}
			}
			if tc.wantErr == nil {
				// One read per toChannelChunks packets, and the read that ends the stream.
				if want := (len(payload)+toChannelChunks*ChannelChunk-1)/(toChannelChunks*ChannelChunk) + 1; src.reads != want {
					t.Fatalf("%d reads of the source, want %d", src.reads, want)
				}
			}
		})
	}
}
