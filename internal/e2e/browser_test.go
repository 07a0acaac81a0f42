//go:build linux

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which scripts/test-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium; each tab has its own browser context (cookies).
type browser struct {
	ctx context.Context
}

// startBrowser starts Chromium for the test and stops it when the test ends.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is missing (scripts/test-deps.sh installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		// The test CA signed the CM's certificate; the browser has no trust store to add it to.
		chromedp.Flag("ignore-certificate-errors", true),
		// Chromium keeps its singleton socket in a directory under TMPDIR that it removes only
		// when it exits cleanly; the test kills it, so that directory goes with the test's.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// tab opens a tab in a browser context of its own: a person with their own cookies.
func (b *browser) tab(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action on a context opens its tab, which lives as long as that action's
	// context: open it here, on the tab's own, before do and eval run under deadlines.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// do runs browser actions with a deadline, failing the test on an error.
func do(t *testing.T, tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, liveDeadline)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		page, _ := chromedp.Run(tab, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("%s: %v; the page:\n%s", what, err, page)
	}
}

// eval evaluates JavaScript in the tab (awaiting a promise) and returns its result.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, liveDeadline)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// viewports are the sizes every console page is checked at: a laptop and a phone.
var viewports = []struct {
	name          string
	width, height int64
}{{"desktop", 1280, 800}, {"phone", 390, 844}}

// checkPage saves a screenshot of the tab's page at each viewport under dir and fails when the
// page scrolls sideways or has a form control without a label.
func checkPage(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, vp := range viewports {
		do(t, ctx, "viewport", chromedp.EmulateViewport(vp.width, vp.height))
		time.Sleep(100 * time.Millisecond) // one layout
		if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= document.documentElement.clientWidth`) {
			w := eval[int](t, ctx, `document.documentElement.scrollWidth`)
			t.Errorf("page %s overflows horizontally at %dx%d: scrollWidth %d", name, vp.width, vp.height, w)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".jpg"), shot, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unlabeled := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea'))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name || e.id)`)
	if len(unlabeled) > 0 {
		t.Errorf("page %s has form controls without a label: %v", name, unlabeled)
	}
	do(t, ctx, "reset viewport", chromedp.EmulateViewport(1280, 800))
}

// consoleSignIn signs email in to the console at cmURL through the development IdP's login
// form, and returns the heading of the page the console lands on.
func consoleSignIn(t *testing.T, ctx context.Context, cmURL, email string) string {
	t.Helper()
	do(t, ctx, "sign in as "+email,
		chromedp.Navigate(cmURL+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("signin")),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), email),
		chromedp.SendKeys(chromedp.ID("password"), "password"),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("continue")),
		chromedp.Click(chromedp.ID("continue")),
		chromedp.WaitVisible(chromedp.ID("whoami")),
	)
	return eval[string](t, ctx, `document.querySelector('main h1').textContent`)
}

// clickAndLoad clicks the element of id and waits for the page it loads.
func clickAndLoad(t *testing.T, tab context.Context, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, liveDeadline)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID(id)))); err != nil {
		t.Fatalf("click %s and wait for the page: %v", id, err)
	}
}
