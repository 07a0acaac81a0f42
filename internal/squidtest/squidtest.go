package squidtest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// squidBinaries are where Debian puts squid.
var squidBinaries = []string{"/usr/sbin/squid", "squid"}

// startTimeout bounds the wait for squid to accept connections.
const startTimeout = 30 * time.Second

// Proxy is a running squid.
type Proxy struct {
	// URL is the proxy's URL, e.g. http://127.0.0.1:41234.
	URL *url.URL
	dir string
}

// Alias is a host name that only this squid resolves, to 127.0.0.1 (through its own hosts
// file). A client names a loopback service by it so that its request goes through the proxy:
// Go never proxies requests addressed to a loopback IP or "localhost", and the tests must not
// use any address beyond loopback.
const Alias = "relay.portcullis.test"

// config is squid's configuration; %[1]s is the directory, %[2]d the port, %[3]s the user line.
const config = `http_port 127.0.0.1:%[2]d
hosts_file %[1]s/hosts
pid_filename %[1]s/squid.pid
cache deny all
cache_mem 8 MB
access_log stdio:%[1]s/access.log
cache_log %[1]s/cache.log
cache_store_log none
coredump_dir %[1]s
netdb_filename none
pinger_enable off
shutdown_lifetime 1 seconds
acl CONNECT method CONNECT
http_access deny CONNECT
request_header_access Upgrade deny all
http_access allow localhost
http_access deny all
%[3]s
`

// Start starts squid for the test and stops it when the test ends. It fails the test when squid
// is missing (run scripts/test-deps.sh) or does not come up.
func Start(t testing.TB) *Proxy {
	t.Helper()
	bin := findSquid(t)
	// Not t.TempDir: squid drops root privileges to the proxy user, who must reach the directory.
	dir, err := os.MkdirTemp("", "squidtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	port := freePort(t)
	userLine := ""
	if os.Geteuid() == 0 {
		userLine = "cache_effective_user proxy"
		chownToProxy(t, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 "+Alias+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "squid.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, config, dir, port, userLine), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-N", "-f", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitListening(t, addr, exited, func() string { return out.String() + readFile(filepath.Join(dir, "cache.log")) })
	return &Proxy{URL: &url.URL{Scheme: "http", Host: addr}, dir: dir}
}

// AccessLog returns what squid logged about the requests it forwarded.
func (p *Proxy) AccessLog() string { return readFile(filepath.Join(p.dir, "access.log")) }

func findSquid(t testing.TB) string {
	for _, b := range squidBinaries {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Fatal("squid is not installed: run scripts/test-deps.sh (apt-get install squid)")
	return ""
}

func chownToProxy(t testing.TB, dir string) {
	u, err := user.Lookup("proxy")
	if err != nil {
		t.Fatalf("squid runs as the proxy user, which is missing: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func waitListening(t testing.TB, addr string, exited <-chan struct{}, logs func() string) {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("squid exited at start:\n%s", logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("squid did not listen on %s within %s:\n%s", addr, startTimeout, logs())
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
