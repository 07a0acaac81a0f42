package squidtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tinyproxyBinaries are where Debian puts tinyproxy.
var tinyproxyBinaries = []string{"/usr/bin/tinyproxy", "tinyproxy"}

// tinyproxyConfig is tinyproxy's configuration as Debian ships it (info logging to a file, at
// most 100 clients), for localhost only, with CONNECT denied: it is allowed to the ports listed
// by ConnectPort, and port 0 is none. %[1]s is the directory, %[2]d the port, %[3]s the
// Upstream line of the alias.
const tinyproxyConfig = `Port %[2]d
Listen 127.0.0.1
Timeout 600
LogFile "%[1]s/tinyproxy.log"
LogLevel Info
PidFile "%[1]s/tinyproxy.pid"
MaxClients 100
Allow 127.0.0.1
ConnectPort 0
ViaProxyName "tinyproxy"
%[3]s
`

// StartTinyproxy starts tinyproxy for the test and stops it when the test ends; requests for
// Alias go to aliasTarget (host:port; "" for no alias). It fails the test when tinyproxy is
// missing (run scripts/test-deps.sh) or does not come up.
func StartTinyproxy(t testing.TB, aliasTarget string) *Proxy {
	t.Helper()
	p, err := RunTinyproxy(aliasTarget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// RunTinyproxy starts tinyproxy outside a test (make bench), as StartTinyproxy does; Stop stops
// it and removes its files.
func RunTinyproxy(aliasTarget string) (*Proxy, error) {
	bin, err := findBinary(tinyproxyBinaries, "tinyproxy")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tinyproxytest-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "tinyproxy.log")
	p := &Proxy{dir: dir, log: logPath, stop: func() { _ = os.RemoveAll(dir) }}
	port, err := freePort()
	if err != nil {
		p.Stop()
		return nil, err
	}
	upstream := ""
	if aliasTarget != "" {
		// tinyproxy sends requests for the alias, unresolved, to the relay's HTTP port, which
		// serves absolute-form request targets as every HTTP/1.1 server must.
		upstream = fmt.Sprintf("Upstream http %s %q", aliasTarget, Alias)
	}
	conf := filepath.Join(dir, "tinyproxy.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, tinyproxyConfig, dir, port, upstream), 0o644); err != nil {
		p.Stop()
		return nil, err
	}
	if err := p.run(exec.Command(bin, "-d", "-c", conf), port, logPath); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// findBinary returns the first of names that is installed.
func findBinary(names []string, pkg string) (string, error) {
	for _, b := range names {
		if p, err := exec.LookPath(b); err == nil {
			return p, nil
		}
	}
	return "", errors.New(pkg + " is not installed: run scripts/test-deps.sh (apt-get install " + pkg + ")")
}
