//go:build unix

package guest

import (
	"io"
	"os"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

func TestShellWithATerminal(t *testing.T) {
	client := connected(t, newFixture(t))
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	defer ptmx.Close() // first: it ends Shell's pending read of tty
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	before, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	out := newTranscript()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := Shell(t.Context(), client, tty, out, nil)
		done <- result{code, err}
	}()
	type_ := func(line string) {
		t.Helper()
		if _, err := io.WriteString(ptmx, line); err != nil {
			t.Fatal(err)
		}
	}
	type_("test -t 0 && echo on-a-tty; stty size\n")
	out.MustSee(t, "on-a-tty")
	out.MustSee(t, "24 80")

	// Resize the local terminal: SIGWINCH must reach the Host as window-change. The signal is
	// handled asynchronously, so ask again until the new size shows.
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	seen := false
	for attempt := 0; attempt < int(testTimeout/time.Second) && !seen; attempt++ {
		type_("stty size\n")
		seen = out.WaitFor(t, "40 100", time.Second)
	}
	if !seen {
		t.Fatalf("the window change never reached the Host:\n%s", out)
	}

	type_("echo hi-$((1+2)); exit 3\n")
	r := <-done
	if r.err != nil || r.code != 3 {
		t.Fatalf("Shell = %d, %v; want 3", r.code, r.err)
	}
	out.MustSee(t, "hi-3")
	after, err := term.GetState(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Error("the local terminal was not restored")
	}
}
