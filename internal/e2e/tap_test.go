package e2e

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"

	"github.com/portcullis/portcullis/certs"
)

// tapProxy stands in front of a CS with the CS's own certificate, terminates TLS, records the
// plaintext it forwards (exactly the bytes the CS reads and splices) and re-encrypts to the CS.
type tapProxy struct {
	ln       net.Listener
	upstream string
	upTLS    *tls.Config

	mu       sync.Mutex
	recorded bytes.Buffer
	ready    chan struct{}
	once     sync.Once
}

func newTapProxy(certsDir string) (*tapProxy, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(certsDir, certs.CSCertFile), filepath.Join(certsDir, certs.CSKeyFile))
	if err != nil {
		return nil, err
	}
	pool, err := certs.LoadCertPool(filepath.Join(certsDir, certs.CAFile))
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	t := &tapProxy{ln: ln, upTLS: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, ready: make(chan struct{})}
	go t.serve()
	return t, nil
}

func (t *tapProxy) Addr() string { return t.ln.Addr().String() }

// SetUpstream names the CS; connections wait for it.
func (t *tapProxy) SetUpstream(addr string) {
	t.once.Do(func() {
		t.upstream = addr
		close(t.ready)
	})
}

func (t *tapProxy) Close() { t.ln.Close() }

// Recorded returns everything forwarded so far, both directions.
func (t *tapProxy) Recorded() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.recorded.Bytes())
}

func (t *tapProxy) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recorded.Write(p)
}

func (t *tapProxy) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		go t.forward(c)
	}
}

func (t *tapProxy) forward(down net.Conn) {
	defer down.Close()
	<-t.ready
	up, err := tls.Dial("tcp", t.upstream, t.upTLS)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Go(func() { pipe(up, down, t) })
	wg.Go(func() { pipe(down, up, t) })
	wg.Wait()
}

// pipe copies src to dst, recording into rec, and passes on the half-close.
func pipe(dst, src net.Conn, rec io.Writer) {
	_, err := io.Copy(io.MultiWriter(dst, rec), src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && (err == nil || errors.Is(err, io.EOF)) {
		_ = cw.CloseWrite()
		return
	}
	dst.Close()
}
