//go:build linux

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/portcullis/portcullis/internal/pgtest"
	"github.com/portcullis/portcullis/localstack"
)

// consoleCookie is the console's session cookie (console.sessionCookie).
const consoleCookie = "__Host-portcullis-console"

// TestConsoleSessionsAreSharedByCMReplicas: two CM replicas on one real PostgreSQL behind a
// real HAProxy. carol signs in through the load balancer; her cookie works at each replica by
// its own address and survives a restart of one; signing out at replica A ends the session at
// replica B at once (her old cookie, put back, is refused); a forged cookie is refused.
func TestConsoleSessionsAreSharedByCMReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := localstack.Start(ctx, localstack.Options{Bin: sys.bin, Dir: t.TempDir(), Store: pgtest.Start(t), Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"idp", "cm-1", "cm-2", "cm-1-restarted", "haproxy"} {
				t.Logf("--- %s (last lines) ---\n%s", n, tail(c.LogOf(n), 40))
			}
		}
		c.Stop()
	})
	b := startBrowser(t)
	carol := b.tab(t)
	if h := consoleSignIn(t, carol, c.CMURL, "carol@example.com"); h != "Decision log" {
		t.Fatalf("carol's first page through the load balancer is %q", h)
	}
	token := sessionCookie(t, carol, c.CMURL)
	signedInAt(t, carol, c.ReplicaURL("cm-1"))
	signedInAt(t, carol, c.ReplicaURL("cm-2"))

	c.KillReplica("cm-1")
	if err := c.RestartReplica(ctx, "cm-1", "cm-1-restarted"); err != nil {
		t.Fatal(err)
	}
	signedInAt(t, carol, c.ReplicaURL("cm-1"))

	// Sign-out at cm-1; the cookie, put back, is refused at cm-2.
	do(t, carol, "sign out at cm-1", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.ID("signed-out")))
	setSessionCookie(t, carol, c.ReplicaURL("cm-2"), token)
	refusedAt(t, carol, c.ReplicaURL("cm-2"), "a signed-out session's cookie")
	setSessionCookie(t, carol, c.ReplicaURL("cm-2"), "forged-"+token[:20])
	refusedAt(t, carol, c.ReplicaURL("cm-2"), "a forged cookie")
}

// sessionCookie returns the console's session cookie the tab holds for url, after checking
// its attributes.
func sessionCookie(t *testing.T, tab context.Context, url string) string {
	t.Helper()
	res, err := chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == consoleCookie {
			if !ck.HTTPOnly || !ck.Secure || ck.SameSite != network.CookieSameSiteStrict {
				t.Errorf("the session cookie is not HttpOnly, Secure and SameSite=Strict: %+v", ck)
			}
			return ck.Value
		}
	}
	t.Fatalf("the tab holds no console session cookie for %s: %+v", url, res.Cookies)
	return ""
}

// setSessionCookie puts a console session cookie of value into the tab for url.
func setSessionCookie(t *testing.T, tab context.Context, url, value string) {
	t.Helper()
	do(t, tab, "set the session cookie", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: consoleCookie, Value: value, URL: url, Path: "/",
			Secure: ptr(true), HTTPOnly: ptr(true), SameSite: network.CookieSameSiteStrict})
		return err
	}))
}

// signedInAt opens the decision log at the CM replica at url and checks carol is signed in.
func signedInAt(t *testing.T, tab context.Context, url string) {
	t.Helper()
	do(t, tab, "the decision log at "+url, chromedp.Navigate(url+"/ui/decisions"), chromedp.WaitVisible(chromedp.ID("whoami")))
	if who := eval[string](t, tab, `document.getElementById("whoami").textContent`); who != "carol@example.com" {
		t.Fatalf("at %s the console says %q is signed in", url, who)
	}
}

// refusedAt checks the CM replica at url sends the tab's cookie to sign in and serves it no
// data.
func refusedAt(t *testing.T, tab context.Context, url, what string) {
	t.Helper()
	do(t, tab, what+" at "+url, chromedp.Navigate(url+"/ui/decisions"), chromedp.WaitVisible(chromedp.ID("signin")))
	if status := eval[int](t, tab, `fetch('/ui/sessions/rows', {redirect: 'manual'}).then(r => r.status)`); status == http.StatusOK {
		t.Errorf("%s: the sessions' rows answer 200", what)
	}
}
