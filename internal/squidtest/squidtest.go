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

// startTimeout bounds the wait for a proxy to accept connections.
const startTimeout = 30 * time.Second

// Proxy is a running squid or tinyproxy.
type Proxy struct {
	// URL is the proxy's URL, e.g. http://127.0.0.1:41234.
	URL  *url.URL
	dir  string
	log  string // the file where the proxy logs the requests it forwarded
	stop func()
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
	p, err := Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Run starts squid outside a test (make bench); Stop stops it and removes its files.
func Run() (*Proxy, error) {
	bin, err := findSquid()
	if err != nil {
		return nil, err
	}
	// Not a test's TempDir: squid drops root privileges to the proxy user, who must reach it.
	dir, err := os.MkdirTemp("", "squidtest-")
	if err != nil {
		return nil, err
	}
	p := &Proxy{dir: dir, log: filepath.Join(dir, "access.log"), stop: func() { _ = os.RemoveAll(dir) }}
	if err := p.start(bin); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Stop stops squid and removes its files.
func (p *Proxy) Stop() { p.stop() }

// start writes the configuration into p.dir and starts squid on a free port.
func (p *Proxy) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	userLine := ""
	if os.Geteuid() == 0 {
		userLine = "cache_effective_user proxy"
		if err := chownToProxy(p.dir); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(p.dir, "hosts"), []byte("127.0.0.1 "+Alias+"\n"), 0o644); err != nil {
		return err
	}
	conf := filepath.Join(p.dir, "squid.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, config, p.dir, port, userLine), 0o644); err != nil {
		return err
	}
	return p.run(exec.Command(bin, "-N", "-f", conf), port, filepath.Join(p.dir, "cache.log"))
}

// run starts cmd, the proxy, which must come to listen on port, and makes Stop stop it; logPath
// is the proxy's log, shown when it fails to start.
func (p *Proxy) run(cmd *exec.Cmd, port int, logPath string) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	removeDir := p.stop
	p.stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		removeDir()
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	p.URL = &url.URL{Scheme: "http", Host: addr}
	return waitListening(filepath.Base(cmd.Path), addr, exited, func() string { return out.String() + readFile(logPath) })
}

// AccessLog returns what the proxy logged about the requests it forwarded.
func (p *Proxy) AccessLog() string { return readFile(p.log) }

func findSquid() (string, error) { return findBinary(squidBinaries, "squid") }

func chownToProxy(dir string) error {
	u, err := user.Lookup("proxy")
	if err != nil {
		return fmt.Errorf("squid runs as the proxy user, which is missing: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func waitListening(name, addr string, exited <-chan struct{}, logs func() string) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start:\n%s", name, logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not listen on %s within %s:\n%s", name, addr, startTimeout, logs())
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}
