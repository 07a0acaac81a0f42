//go:build unix

package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/squidtest"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
	"github.com/portcullis/portcullis/store"
)

var (
	failedOver  = regexp.MustCompile(`relay failed, asked the CM for another: (\S+):`)
	relayReason = regexp.MustCompile(`relay chosen: (.*)`)
	gaveUp      = regexp.MustCompile(`portcullis: relay (\S+) did not answer after ([0-9.]+)s; trying another relay`)
)

// TestStory7ThroughAStrictProxyWithTCPBlockedAndFailover: kiosk-7 belongs to globex, whose
// sessions use only its private relays. Its two relays enrolled with relay tokens; TCP/1970 to
// cs-globex-1 is blocked, and the Guest's network passes only plain HTTP through squid. The
// nearer cs-globex-0 hangs: the Guest fails over to cs-globex-1, reaches it over HTTP through
// the proxy (and through tinyproxy too), and the vendor relay cs-eu-1 never carries the session.
func TestStory7ThroughAStrictProxyWithTCPBlockedAndFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	proxy := squidtest.Start(t)
	// kiosk-7 is a production host: alice signs in with MFA (another test may have cached a
	// sign-in without it in her config directory).
	if _, err := sys.c.Login(ctx, "alice@example.com", "password", "123456"); err != nil {
		t.Fatal(err)
	}
	dave := sys.users["dave@example.com"]
	var relays []*localstack.Proc
	for _, spec := range []localstack.RelaySpec{
		{ID: "cs-globex-0", Region: "eu-west"},
		{ID: "cs-globex-1", Region: "eu-west", BlockTCP: true, HTTPHost: squidtest.Alias},
	} {
		tok, err := sys.c.RelayToken(ctx, dave, "globex")
		if err != nil {
			t.Fatal(err)
		}
		spec.EnrollToken = tok
		p, err := sys.c.StartRelay(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		relays = append(relays, p)
	}
	if err := sys.c.WaitRelays(ctx, dave, "cs-globex-0", "cs-globex-1"); err != nil {
		t.Fatalf("the enrolled relays did not register: %v\n%s", err, sys.c.LogOf("cs-globex-1"))
	}
	if _, err := sys.c.StartHost(ctx, dave, localstack.HostSpec{
		Name: "kiosk-7", Tags: map[string]string{"env": "prod", "site": "store-7"}, Tenant: "globex",
		// The kiosk's network, too, passes only plain HTTP through the proxy.
		Env: []string{"HTTP_PROXY=" + proxy.URL.String(), "http_proxy=" + proxy.URL.String()},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("the private relay over the HTTP fallback through squid", func(t *testing.T) {
		// Both globex relays are up: either may be chosen, never the vendor's.
		stdout, stderr := guestVia(t, proxy.URL.String(), "exec", "-v", "kiosk-7", "--", "echo kiosk-ok")
		if stdout != "kiosk-ok\n" {
			t.Fatalf("stdout %q; stderr:\n%s", stdout, stderr)
		}
		m := sessionRE.FindStringSubmatch(stderr)
		if m == nil || !strings.HasPrefix(m[2], "cs-globex-") {
			t.Fatalf("session line missing or not through a globex relay:\n%s", stderr)
		}
		if m[2] == "cs-globex-1" && m[3] != "http" {
			t.Fatalf("cs-globex-1 reached over %s with TCP blocked", m[3])
		}
	})

	// cs-globex-0 stops answering (SIGSTOP: the kernel still accepts its connections, so it
	// looks alive and near), while the CM still lists it.
	if err := syscall.Kill(relays[0].Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(relays[0].Pid(), syscall.SIGCONT) })

	t.Run("failover from a hanging relay to the other private relay", func(t *testing.T) {
		stdout, stderr := guestVia(t, proxy.URL.String(), "exec", "-v", "kiosk-7", "--", "echo failover-ok")
		if stdout != "failover-ok\n" {
			t.Fatalf("stdout %q; stderr:\n%s", stdout, stderr)
		}
		m := sessionRE.FindStringSubmatch(stderr)
		if m == nil || m[2] != "cs-globex-1" || m[3] != "http" {
			t.Fatalf("want the session via cs-globex-1 over http:\n%s", stderr)
		}
		t.Logf("guest:\n%s", stderr)
		// Either the CM chose the hung relay and the Guest failed over from it, or the hung
		// relay had stopped answering the Guest's or the kiosk's latency probes in time for
		// the CM to choose the other at once (a loaded machine, a late probe): both are right.
		switch f := failedOver.FindAllStringSubmatch(stderr, -1); {
		case len(f) == 0:
			t.Logf("the probes found cs-globex-0 hung: the CM chose cs-globex-1 at once")
		case len(f) != 1 || f[0][1] != "cs-globex-0":
			t.Fatalf("want at most one failover, from cs-globex-0:\n%s", stderr)
		default:
			// The hung relay is given up within 3 s (one connect timeout for both its
			// transports, not one per transport), and the Guest says so without -v too.
			g := gaveUp.FindAllStringSubmatch(stderr, -1)
			if len(g) != 1 || g[0][1] != "cs-globex-0" {
				t.Fatalf("want one line saying cs-globex-0 was given up:\n%s", stderr)
			}
			if secs, err := strconv.ParseFloat(g[0][2], 64); err != nil || secs > 3 {
				t.Fatalf("cs-globex-0 given up after %s s, want ≤ 3 s", g[0][2])
			}
		}
		if r := relayReason.FindStringSubmatch(stderr); r == nil || !strings.Contains(r[1], "cs-eu-1 (not the tenant's private relay)") {
			t.Fatalf("the relay choice does not say why the vendor relay was skipped:\n%s", stderr)
		}
		checkSessionRecord(t, m[1], "cs-globex-1", "http")
		if log := proxy.AccessLog(); !strings.Contains(log, "/relay/v1/send") {
			t.Fatalf("the session did not pass through squid:\n%s", log)
		}
		checkMetrics(t, relays[1].MetricsAddr)
	})

	t.Run("the private relay over the HTTP fallback through tinyproxy", func(t *testing.T) {
		// tinyproxy as shipped (CONNECT denied, info logging); the relay's alias reaches it.
		u, err := url.Parse(relays[1].HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		tiny := squidtest.StartTinyproxy(t, net.JoinHostPort("127.0.0.1", u.Port()))
		stdout, stderr := guestVia(t, tiny.URL.String(), "exec", "-v", "--preferred-protocol", "http", "kiosk-7", "--", "echo tiny-ok")
		if stdout != "tiny-ok\n" {
			t.Fatalf("stdout %q; stderr:\n%s", stdout, stderr)
		}
		m := sessionRE.FindStringSubmatch(stderr)
		if m == nil || m[2] != "cs-globex-1" || m[3] != "http" {
			t.Fatalf("want the session via cs-globex-1 over http (cs-globex-0 hangs):\n%s", stderr)
		}
		checkSessionRecord(t, m[1], "cs-globex-1", "http")
		if log := tiny.AccessLog(); !strings.Contains(log, "/relay/v1/send") || !strings.Contains(log, "/relay/v1/recv") {
			t.Fatalf("the session did not pass through tinyproxy:\n%s", log)
		}
	})

	t.Run("TCP only fails: port 1970 is blocked", func(t *testing.T) {
		_, stderr, code := guest(t, "alice@example.com", "exec", "--preferred-protocol", "tcp", "kiosk-7", "--", "true")
		if code == 0 || !strings.Contains(stderr, "cs-globex-1: endpoint: connection server unreachable") {
			t.Fatalf("exit %d with TCP only; stderr:\n%s", code, stderr)
		}
	})

	t.Run("SIGTERM drains: the live session finishes, the relay leaves", func(t *testing.T) {
		cs := relays[1]
		done := make(chan [2]string, 1)
		go func() {
			o, e := guestVia(t, proxy.URL.String(), "exec", "kiosk-7", "--", "sleep 3; echo drained-ok")
			done <- [2]string{o, e}
		}()
		waitMetric(t, cs.MetricsAddr, "portcullis_relay_sessions_live 1")
		if err := syscall.Kill(cs.Pid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		out := <-done
		if out[0] != "drained-ok\n" {
			t.Fatalf("the live session did not finish through the drain: stdout %q, stderr:\n%s", out[0], out[1])
		}
		deadline := time.Now().Add(30 * time.Second)
		for !cs.Exited() {
			if time.Now().After(deadline) {
				t.Fatalf("the relay did not exit after draining:\n%s", sys.c.LogOf("cs-globex-1"))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if log := sys.c.LogOf("cs-globex-1"); !strings.Contains(log, "draining") || !strings.Contains(log, "reason=closed") {
			t.Fatalf("the relay's log does not show a drain with the session closed normally:\n%s", log)
		}
	})
}

// waitMetric polls a relay's /metrics until a line appears.
func waitMetric(t *testing.T, addr, line string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if body, err := metrics(addr); err == nil && strings.Contains(body, line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metrics(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// guestVia runs a Guest command as alice with HTTP_PROXY set, and wants it to succeed.
func guestVia(t *testing.T, proxy string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, sys.users["alice@example.com"], args...)
	cmd.Env = append(cmd.Environ(), "HTTP_PROXY="+proxy, "http_proxy="+proxy)
	var o, e syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\nstderr:\n%s", args, err, e.String())
	}
	return o.String(), e.String()
}

// checkSessionRecord reads the CM's session record and checks its relay and transport (the
// relay reports the transport when it pairs the halves, so it may take a moment).
func checkSessionRecord(t *testing.T, id, relayID, transport string) {
	t.Helper()
	db, err := store.Open(context.Background(), sys.c.StoreDSN(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := db.GetSession(context.Background(), id)
		if err == nil && s.RelayID == relayID && s.Transport == transport {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s = %+v (%v), want relay %s transport %s", id, s, err, relayID, transport)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMetrics reads the relay's Prometheus metrics and wants a paired session counted.
func checkMetrics(t *testing.T, addr string) {
	t.Helper()
	body, err := metrics(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"portcullis_relay_sessions_total", "portcullis_relay_bytes_total", "portcullis_relay_pairing_seconds_bucket", "portcullis_relay_sessions_live"} {
		if !strings.Contains(body, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "portcullis_relay_sessions_total 0\n") {
		t.Fatalf("/metrics counts no session:\n%s", body)
	}
}
