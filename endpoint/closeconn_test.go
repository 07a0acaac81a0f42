package endpoint

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testcert"
)

// An end that closes while the other still sends lets it finish: the other end's writes after
// the close all succeed, where an abrupt close makes them fail (what the relay recorded as a
// session ended in error). Close is bounded when the other end never finishes.
func TestAGracefulCloseLetsTheOtherEndFinishSending(t *testing.T) {
	for _, tc := range []struct {
		name          string
		graceful      bool
		otherFinishes bool
		wantWriteErr  bool
	}{
		{"graceful", true, true, false},
		{"abrupt", false, true, true},
		{"graceful, the other end never finishes", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverConf, clientConf := testcert.TLS(t)
			ln, err := tls.Listen("tcp", "127.0.0.1:0", serverConf)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			written := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					written <- err
					return
				}
				defer c.Close()
				if _, err := io.Copy(io.Discard, c); err != nil { // until the client is done sending
					written <- err
					return
				}
				chunk := make([]byte, 64<<10)
				var werr error
				for range 64 { // 4 MiB after the client said it is done
					if _, werr = c.Write(chunk); werr != nil {
						break
					}
				}
				if werr == nil && tc.otherFinishes {
					werr = c.(*tls.Conn).CloseWrite()
				}
				if !tc.otherFinishes {
					time.Sleep(closeDrain + time.Second)
				}
				written <- werr
			}()
			raw, err := tls.Dial("tcp", ln.Addr().String(), clientConf)
			if err != nil {
				t.Fatal(err)
			}
			var c net.Conn = raw
			if tc.graceful {
				c = graceful(raw)
			}
			if _, err := c.Write([]byte("request")); err != nil {
				t.Fatal(err)
			}
			if !tc.graceful { // say so first, and close while the server writes
				if err := raw.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			start := time.Now()
			if err := c.Close(); err != nil && tc.graceful {
				t.Errorf("Close = %v", err)
			}
			if took := time.Since(start); took > closeDrain+time.Second {
				t.Errorf("Close took %v, more than the drain bound %v", took, closeDrain)
			}
			werr := <-written
			if (werr != nil) != tc.wantWriteErr {
				t.Errorf("the other end's writes after the close: %v; want an error: %v", werr, tc.wantWriteErr)
			}
		})
	}
}
