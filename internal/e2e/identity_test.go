package e2e

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/identity"
	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
)

// loginRun is a `portcullis login` process whose output a test reads line by line.
type loginRun struct {
	cmd   *exec.Cmd
	lines chan string
	out   strings.Builder
	errb  syncbuf.Buffer
}

// startLogin runs `portcullis login` for a fresh config directory with extra flags.
func startLogin(t *testing.T, dir string, flags ...string) *loginRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := sys.c.Guest(ctx, localstack.User{ConfigDir: dir}, append([]string{"login"}, flags...)...)
	r := &loginRun{cmd: cmd, lines: make(chan string, 64)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &r.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.out.WriteString(sc.Text() + "\n")
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	return r
}

// waitFor returns the first submatch of the first output line re matches.
func (r *loginRun) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("login ended before printing %s; stderr:\n%s", re, r.errb.String())
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("login printed no %s", re)
		}
	}
}

// wait waits for the process and returns its exit status, the remaining stdout and stderr.
func (r *loginRun) wait() (int, string, string) {
	var rest strings.Builder
	for line := range r.lines {
		rest.WriteString(line + "\n")
	}
	err := r.cmd.Wait()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return code, rest.String(), r.errb.String()
}

var (
	authURLLine = regexp.MustCompile(`^\s+(https://\S+/authorize\?\S+)$`)
	deviceLine  = regexp.MustCompile(`open (\S+) and enter the code (\S+)$`)
)

// signedIn returns the user whose credentials `portcullis login` left in dir.
func signedIn(t *testing.T, email, dir string) localstack.User {
	t.Helper()
	u, err := sys.c.Signed(localstack.User{Email: email, ConfigDir: dir})
	if err != nil {
		t.Fatalf("credentials left by login: %v", err)
	}
	return u
}

func TestBrowserSignInStatusAndLogoutThroughTheCLI(t *testing.T) {
	dir := t.TempDir()
	login := startLogin(t, dir, "--no-browser")
	authURL := login.waitFor(t, authURLLine)[1]
	// The browser: an HTTP client that follows the provider's login form and its redirect
	// back to the CLI's loopback listener.
	if err := devidp.SubmitBrowserLogin(context.Background(), sys.c.HTTPClient(), authURL, "alice@example.com", "password", "123456"); err != nil {
		t.Fatalf("browser: %v", err)
	}
	code, out, stderr := login.wait()
	if code != 0 || !strings.Contains(out, "Signed in to "+sys.c.CMURL+" as alice@example.com") {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, stderr)
	}
	alice := signedIn(t, "alice@example.com", dir)
	for _, f := range []string{"token-*.json", "credential-*.key", "credential-*.crt"} {
		matches, _ := filepath.Glob(filepath.Join(dir, f))
		if len(matches) != 1 {
			t.Fatalf("%s: %v", f, matches)
		}
		if st, err := os.Stat(matches[0]); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", matches[0], st.Mode().Perm())
		}
	}

	status, err := sys.c.Guest(context.Background(), alice, "status").CombinedOutput()
	if err != nil || !regexp.MustCompile(`User:\s+alice@example.com`).Match(status) || !regexp.MustCompile(`Groups:\s+ops`).Match(status) ||
		!strings.Contains(string(status), "Credential until:") {
		t.Fatalf("status: %v\n%s", err, status)
	}
	if out, err := sys.c.Guest(context.Background(), alice, "exec", "db-1", "--", "echo", "browser-ok").CombinedOutput(); err != nil || !strings.Contains(string(out), "browser-ok") {
		t.Fatalf("exec after a browser sign-in with MFA: %v\n%s", err, out)
	}

	tok, err := identity.TokenCache{Dir: dir}.Load(sys.c.CMURL)
	if err != nil {
		t.Fatal(err)
	}
	out2, err := sys.c.Guest(context.Background(), alice, "logout").CombinedOutput()
	if err != nil || !strings.Contains(string(out2), "Revoked the refresh token") || !strings.Contains(string(out2), "Signed out") {
		t.Fatalf("logout: %v\n%s", err, out2)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*-*")); len(left) != 0 {
		t.Errorf("logout left %v", left)
	}
	var ac api.AuthConfig
	if err := api.Call(context.Background(), sys.c.HTTPClient(), http.MethodGet, sys.c.CMURL+api.PathAuthConfig, "", nil, &ac); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.Refresh(context.Background(), identity.Config{Issuer: ac.Issuer, ClientID: ac.ClientID, HTTPClient: sys.c.HTTPClient()}, tok); err == nil {
		t.Error("the refresh token still works after logout")
	}
	out3, _ := sys.c.Guest(context.Background(), alice, "exec", "web-1", "--", "true").CombinedOutput()
	if !strings.Contains(string(out3), "not signed in") {
		t.Errorf("exec after logout: %s", out3)
	}
}

func TestDeviceSignInThroughTheCLIAndACancelledOne(t *testing.T) {
	dir := t.TempDir()
	login := startLogin(t, dir, "--device")
	m := login.waitFor(t, deviceLine)
	if err := devidp.SubmitDeviceLogin(context.Background(), sys.c.HTTPClient(), m[1], m[2], "bob@example.com", "password", ""); err != nil {
		t.Fatalf("approve the device: %v", err)
	}
	if code, out, stderr := login.wait(); code != 0 || !strings.Contains(out, "as bob@example.com") {
		t.Fatalf("device login: exit %d\n%s\n%s", code, out, stderr)
	}
	bob := signedIn(t, "bob@example.com", dir)
	var me api.WhoAmI
	if err := api.Call(context.Background(), bob.Client, http.MethodGet, sys.c.CMURL+api.PathWhoAmI, bob.IDToken, nil, &me); err != nil || me.Subject != "bob@example.com" {
		t.Fatalf("whoami: %+v, %v", me, err)
	}

	// A wrong password leaves the code unapproved; the person gives up with Ctrl-C.
	other := startLogin(t, t.TempDir(), "--device")
	m = other.waitFor(t, deviceLine)
	if err := devidp.SubmitDeviceLogin(context.Background(), sys.c.HTTPClient(), m[1], m[2], "bob@example.com", "wrong", ""); !errors.Is(err, devidp.ErrLoginRefused) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := other.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := other.wait(); code == 0 || !strings.Contains(stderr, "sign-in cancelled") {
		t.Errorf("cancelled login: exit %d, stderr %q", code, stderr)
	}
}

func TestExpiredSignInIsRenewedSilently(t *testing.T) {
	u, err := sys.c.Login(context.Background(), "alice@example.com", "password", "123456")
	if err != nil {
		t.Fatal(err)
	}
	cache := identity.TokenCache{Dir: u.ConfigDir}
	tok, err := cache.Load(sys.c.CMURL)
	if err != nil {
		t.Fatal(err)
	}
	// The cached ID token is now past its expiry, as it would be an hour later.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	if err := cache.Save(sys.c.CMURL, &stale); err != nil {
		t.Fatal(err)
	}
	out, err := sys.c.Guest(context.Background(), u, "exec", "web-1", "--", "echo", "renewed").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "renewed") {
		t.Fatalf("exec with an expired sign-in: %v\n%s", err, out)
	}
	fresh, err := cache.Load(sys.c.CMURL)
	if err != nil || fresh.IDToken == tok.IDToken || fresh.RefreshToken == tok.RefreshToken || !fresh.Expiry.After(time.Now()) {
		t.Fatalf("the cache was not renewed: %v", err)
	}
}

func TestAStolenBearerTokenConnectsNowhere(t *testing.T) {
	alice := sys.users["alice@example.com"]
	thief := sys.c.HTTPClient() // trusts the CM, holds no credential
	req := api.ConnectRequest{Host: "web-1", Channels: []string{"exec"}, PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"}
	err := api.Call(context.Background(), thief, http.MethodPost, sys.c.CMURL+api.PathConnect, alice.IDToken, req, nil)
	if se, ok := api.AsStatus(err); !ok || se.Status != http.StatusUnauthorized || se.Body.Reason != access.ErrCredentialRequired {
		t.Fatalf("connect with a stolen token: %v, want 401 %s", err, access.ErrCredentialRequired)
	}
	// Nor can the thief mint a credential of their own with it: the token was exchanged.
	err = api.Call(context.Background(), thief, http.MethodPost, sys.c.CMURL+api.PathCredential, alice.IDToken,
		api.CredentialRequest{PublicKey: req.PublicKey}, nil)
	if se, ok := api.AsStatus(err); !ok || se.Status != http.StatusUnauthorized || se.Body.Reason != access.ErrTokenExchanged {
		t.Fatalf("exchange a stolen token: %v, want 401 %s", err, access.ErrTokenExchanged)
	}
}

// TestHostIdentityLifecycle runs its own small system: a CM with short-lived Host
// certificates and a plain-HTTP heartbeat listener, and one Host that heartbeats there.
func TestHostIdentityLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := localstack.Start(ctx, localstack.Options{Bin: sys.bin, Dir: t.TempDir(), HeartbeatListener: true,
		CMArgs: []string{"--host-cert-ttl", "12s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	dave, err := c.Login(ctx, "dave@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := c.StartHost(ctx, dave, localstack.HostSpec{Name: "lab-1", Tags: map[string]string{"env": "staging"}, Tenant: "acme", SignedHeartbeats: true})
	if err != nil {
		t.Fatalf("a host heartbeating over plain HTTP: %v\n%s", err, c.LogOf("lab-1"))
	}

	// The Host renews its 12 s certificate at two thirds of its lifetime, twice, and stays.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(c.LogOf("lab-1"), "host certificate renewed") < 2 {
		if time.Now().After(deadline) || lab.Exited() {
			t.Fatalf("no two renewals; host log:\n%s", c.LogOf("lab-1"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(c.LogOf("lab-1"), "level=WARN msg=heartbeat") {
		t.Errorf("heartbeats failed around renewals:\n%s", c.LogOf("lab-1"))
	}

	// carol the auditor may list hosts but not disable them; the refusal names the policy's reason.
	carol, err := c.Login(ctx, "carol@example.com", "password", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Guest(ctx, carol, "hosts", "disable", "lab-1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no group of carol@example.com (auditors) may disable hosts") {
		t.Fatalf("carol disabling a host: %v\n%s", err, out)
	}

	// dave disables the Host: the agent is refused and stops, and the list says so.
	if out, err := c.Guest(ctx, dave, "hosts", "disable", "lab-1").CombinedOutput(); err != nil {
		t.Fatalf("hosts disable: %v\n%s", err, out)
	}
	deadline = time.Now().Add(60 * time.Second)
	for !lab.Exited() {
		if time.Now().After(deadline) {
			t.Fatalf("the disabled host keeps running:\n%s", c.LogOf("lab-1"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(c.LogOf("lab-1"), "CM refuses this host") {
		t.Errorf("host log does not say it was refused:\n%s", c.LogOf("lab-1"))
	}
	out, err = c.Guest(ctx, carol, "hosts", "list").CombinedOutput()
	if err != nil || !regexp.MustCompile(`lab-1\s+h_\w+\s+acme\s+.*disabled`).Match(out) {
		t.Fatalf("hosts list: %v\n%s", err, out)
	}
	out, err = c.Guest(ctx, dave, "hosts", "delete", "lab-1").CombinedOutput()
	if err != nil {
		t.Fatalf("hosts delete: %v\n%s", err, out)
	}
	var hosts []api.HostInfo
	if err := api.Call(ctx, dave.Client, http.MethodGet, c.CMURL+api.PathHosts, dave.IDToken, nil, &hosts); err != nil || len(hosts) != 0 {
		t.Fatalf("hosts after delete: %+v, %v", hosts, err)
	}
}
