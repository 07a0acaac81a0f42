package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"

	"github.com/portcullis/portcullis/internal/squidtest"
)

// httpProxies are the proxies the HTTP fallback is measured through, both as strict corporate
// proxies are configured (CONNECT denied, default logging), in the order the report lists them.
var httpProxies = []struct {
	// name is the proxy's name in figure names (portcullis_http_NAME).
	name string
	// run starts the proxy; relayHTTP is the relay's HTTP listening address, which requests
	// for squidtest.Alias must reach.
	run func(relayHTTP string) (*squidtest.Proxy, error)
}{
	{"squid", func(string) (*squidtest.Proxy, error) { return squidtest.Run() }},
	{"tinyproxy", squidtest.RunTinyproxy},
}

// startHTTPProxy starts the proxy named name for the bench relay's HTTP fallback.
func startHTTPProxy(st *stack, name string) (*squidtest.Proxy, error) {
	u, err := url.Parse(st.relay.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("relay HTTP address %q: %w", st.relay.HTTPAddr, err)
	}
	for _, p := range httpProxies {
		if p.name == name {
			return p.run(net.JoinHostPort("127.0.0.1", u.Port()))
		}
	}
	return nil, fmt.Errorf("no proxy %q", name)
}

// httpOnly is the flag that makes a Guest command reach the relay over the HTTP fallback only.
var httpOnly = []string{"--preferred-protocol", "http"}

// withHTTPProxy sets HTTP_PROXY of cmd, a Guest command, to proxy; the relay advertises its HTTP
// address under the proxies' alias, so every request passes the proxy (Go never proxies a
// loopback address).
func withHTTPProxy(cmd *exec.Cmd, proxy *squidtest.Proxy) *exec.Cmd {
	cmd.Env = append(cmd.Environ(), "HTTP_PROXY="+proxy.URL.String(), "http_proxy="+proxy.URL.String())
	return cmd
}

// startPortcullisViaProxy runs `portcullis forward` over the relay's HTTP fallback only,
// through the proxy named name.
func startPortcullisViaProxy(ctx context.Context, st *stack, dir, name string) (relayPath, error) {
	proxy, err := startHTTPProxy(st, name)
	if err != nil {
		return relayPath{}, err
	}
	port, err := freePort()
	if err != nil {
		proxy.Stop()
		return relayPath{}, err
	}
	args := append([]string{"forward"}, append(httpOnly, hostName, fmt.Sprintf("%d:localhost:%d", port, forwardTargetPort))...)
	cmd := withHTTPProxy(st.c.Guest(context.WithoutCancel(ctx), st.user, args...), proxy)
	rp, err := startListener(ctx, cmd, filepath.Join(dir, "forward-http-"+name+".log"), port)
	if err != nil {
		proxy.Stop()
		return relayPath{}, err
	}
	stop := rp.stop
	rp.stop = func() { stop(); proxy.Stop() }
	rp.pids = append(rp.pids, st.relay.Pid(), st.host.Pid())
	return rp, nil
}
