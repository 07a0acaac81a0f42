package localstack

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The load balancer in front of CM replicas is a real HAProxy. Hosts authenticate to the CM
// with client certificates, so it passes TLS through untouched (mode tcp) and balances
// connections round-robin; it checks each replica's GET /readyz over TLS and sends no new
// connection to one that is down or unready. A connection refused by a dead replica is
// retried on another (option redispatch). Its runtime API (a Unix socket in Dir) switches
// replicas in and out of rotation and points a restarted replica's entry at its new port.

const (
	// lbBackend is the name of the HAProxy backend of the CM replicas.
	lbBackend = "cms"
	// lbCheckInterval is how often HAProxy checks each replica's /readyz; a replica is taken
	// out of rotation after lbFall failed checks and put back after one good one.
	lbCheckInterval = "500ms"
	lbFall          = 2
	// lbSessionTimeout is HAProxy's idle timeout of a client or server connection: longer
	// than any long-poll.
	lbSessionTimeout = "10m"
	// lbSocket is the runtime API's socket file in Dir.
	lbSocket = "haproxy.sock"
	// maxUnixPath is the longest path a Unix socket address holds (sun_path, with its NUL).
	maxUnixPath = 107
)

// haproxyConfig is the configuration of the load balancer: it listens on the inherited listen
// address bind (HAProxy's "fd@N" syntax) and balances the replicas, by name and address.
func haproxyConfig(bind, sockPath string, names, addrs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    log stdout format raw local0
    stats socket %s mode 600 level admin
defaults
    mode tcp
    log global
    option tcplog
    option dontlognull
    timeout connect 2s
    timeout client %[2]s
    timeout server %[2]s
    timeout check 1s
    retries 2
    option redispatch 1
frontend cm
    bind %s
    default_backend %s
backend %[4]s
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server check check-ssl verify none inter %s fall %d rise 1
`, sockPath, lbSessionTimeout, bind, lbBackend, lbCheckInterval, lbFall)
	for i, n := range names {
		fmt.Fprintf(&b, "    server %s %s\n", n, addrs[i])
	}
	return b.String()
}

// haproxyBin returns the HAProxy binary: opts' choice, else haproxy on PATH or in /usr/sbin
// (where Debian's package puts it, which is not on every user's PATH).
func haproxyBin(opts Options) (string, error) {
	if opts.HAProxy != "" {
		return opts.HAProxy, nil
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("localstack: haproxy not found (apt-get install haproxy; scripts/test-deps.sh does)")
}

// startLB writes haproxy.cfg into Dir and starts HAProxy in the foreground on sock, in front
// of the replicas.
func (s *Stack) startLB(ctx context.Context, sock *socket) error {
	bin, err := haproxyBin(s.opts)
	if err != nil {
		return err
	}
	s.lbSock = filepath.Join(s.opts.Dir, lbSocket)
	if len(s.lbSock) > maxUnixPath {
		return fmt.Errorf("localstack: the HAProxy runtime socket's path %s is too long for a Unix socket; use a shorter Dir", s.lbSock)
	}
	l := &launch{name: "haproxy"}
	addr, err := handoffAddr(l, sock)
	if err != nil {
		return err
	}
	names, addrs := make([]string, len(s.replicas)), make([]string, len(s.replicas))
	for i, r := range s.replicas {
		names[i], addrs[i] = r.name, r.addr
	}
	cfg := filepath.Join(s.opts.Dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, s.lbSock, names, addrs)), 0o600); err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	l.bin, l.args = bin, []string{"-f", cfg, "-db"}
	if _, err := s.spawn(ctx, l); err != nil {
		return err
	}
	return s.waitFor(ctx, func() bool { _, err := s.lbCommand("show info"); return err == nil })
}

// handoffAddr hands sock down to the HAProxy process l starts and returns its bind address.
func handoffAddr(l *launch, sock *socket) (string, error) {
	addr, f, err := sock.handoff(len(l.files))
	if err != nil {
		return "", err
	}
	if f != nil {
		l.files = append(l.files, f)
	}
	if n, ok := strings.CutPrefix(addr, "fd:"); ok {
		return "fd@" + n, nil
	}
	return addr, nil
}

// lbCommand sends one command to HAProxy's runtime API and returns the answer.
func (s *Stack) lbCommand(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", s.lbSock, clientTimeout)
	if err != nil {
		return "", fmt.Errorf("localstack: haproxy runtime API: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(clientTimeout))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", fmt.Errorf("localstack: haproxy %q: %w", cmd, err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return "", fmt.Errorf("localstack: haproxy %q: %w", cmd, err)
	}
	return string(out), nil
}

// lbSet sends a runtime command that answers nothing (or a blank line) on success.
func (s *Stack) lbSet(cmd string) error {
	out, err := s.lbCommand(cmd)
	if err != nil {
		return err
	}
	if msg := strings.TrimSpace(out); msg != "" && !strings.Contains(msg, "changed from") {
		return fmt.Errorf("localstack: haproxy %q: %s", cmd, msg)
	}
	return nil
}

// LBStatus returns HAProxy's view of each replica by name: "UP", "DOWN", "MAINT", … (its
// status column of "show stat").
func (s *Stack) LBStatus() (map[string]string, error) { return s.lbStat("status") }

// LBConnections returns how many connections HAProxy has sent to each replica by name so far
// (its stot column of "show stat"; health checks do not count).
func (s *Stack) LBConnections() (map[string]int, error) {
	col, err := s.lbStat("stot")
	if err != nil {
		return nil, err
	}
	got := make(map[string]int, len(col))
	for n, v := range col {
		if got[n], err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("localstack: haproxy stot of %s: %w", n, err)
		}
	}
	return got, nil
}

// lbStat returns one column of HAProxy's "show stat" for each replica by name.
func (s *Stack) lbStat(column string) (map[string]string, error) {
	out, err := s.lbCommand("show stat")
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("localstack: haproxy show stat: %w (%q)", err, out)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	px, sv, c := col["pxname"], col["svname"], col[column]
	if c == 0 {
		return nil, fmt.Errorf("localstack: haproxy show stat has no column %q", column)
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > max(px, sv, c) && row[px] == lbBackend && row[sv] != "BACKEND" {
			got[row[sv]] = row[c]
		}
	}
	return got, nil
}

// WaitLB waits until HAProxy counts exactly the named replicas as up (in rotation).
func (s *Stack) WaitLB(ctx context.Context, names ...string) error {
	var last map[string]string
	err := s.waitFor(ctx, func() bool {
		st, err := s.LBStatus()
		if err != nil {
			return false
		}
		last = st
		for n, state := range st {
			if up := strings.HasPrefix(state, "UP"); up != slices.Contains(names, n) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("localstack: HAProxy did not count exactly %v as up (last seen %v): %w", names, last, err)
	}
	return nil
}

// Route has HAProxy send new connections only to the named replicas, the others in
// maintenance (connections already made stay where they are), and waits until it does. With
// no names every replica is back in rotation, as its health checks say.
func (s *Stack) Route(ctx context.Context, names ...string) error {
	if err := s.checkNames(names); err != nil {
		return err
	}
	all := s.ReplicaNames()
	if len(names) == 0 {
		names = all
	}
	var up []string
	for _, n := range all {
		state := "maint"
		if slices.Contains(names, n) {
			state = "ready"
			if !s.replica(n).proc.Exited() {
				up = append(up, n)
			}
		}
		if err := s.lbSet(fmt.Sprintf("set server %s/%s state %s", lbBackend, n, state)); err != nil {
			return err
		}
	}
	return s.WaitLB(ctx, up...)
}

// lbSetAddr points HAProxy's entry of replica name at addr ("127.0.0.1:PORT").
func (s *Stack) lbSetAddr(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("localstack: port of %s: %w", addr, err)
	}
	return s.lbSet(fmt.Sprintf("set server %s/%s addr %s port %s", lbBackend, name, host, port))
}
