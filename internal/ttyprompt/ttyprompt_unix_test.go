//go:build unix

package ttyprompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/portcullis/portcullis/internal/syncbuf"
)

// screen is a pseudo-terminal: the program's end (tty) and what the terminal shows.
type screen struct {
	ptmx, tty *os.File
	shown     *syncbuf.Buffer
}

func openScreen(t *testing.T) *screen {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	s := &screen{ptmx: ptmx, tty: tty, shown: &syncbuf.Buffer{}}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(s.shown, ptmx)
		close(copied)
	}()
	t.Cleanup(func() {
		_ = tty.Close()
		_ = ptmx.Close()
		<-copied
	})
	return s
}

// echoes reports whether the terminal echoes what is typed.
func (s *screen) echoes(t *testing.T) bool {
	t.Helper()
	var attrs *unix.Termios
	err := onDescriptor(s.tty, func(fd int) (err error) {
		attrs, err = unix.IoctlGetTermios(fd, getTermios)
		return err
	})
	if err != nil {
		t.Fatalf("read the terminal's mode: %v", err)
	}
	return attrs.Lflag&unix.ECHO != 0
}

// settle writes a marker after everything the program wrote and returns the screen up to it:
// the terminal's echo of earlier input comes before it.
func (s *screen) settle(t *testing.T) string {
	t.Helper()
	const marker = "--settled--"
	if _, err := io.WriteString(s.tty, marker); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.shown.String(), marker) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed the marker; it shows %q", s.shown.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return strings.TrimSuffix(s.shown.String(), marker)
}

// typist is the program's output: it records whether the terminal echoed when each prompt was
// written, and types answer the moment the prompt is written, as a fast typist (or a script)
// would.
type typist struct {
	s            *screen
	t            *testing.T
	answer       string
	echoAtPrompt []bool
}

func (w *typist) Write(p []byte) (int, error) {
	if strings.TrimSpace(string(p)) != "" {
		w.echoAtPrompt = append(w.echoAtPrompt, w.s.echoes(w.t))
	}
	n, err := w.s.tty.Write(p)
	if err == nil && strings.TrimSpace(string(p)) != "" {
		_, err = io.WriteString(w.s.ptmx, w.answer+"\n")
	}
	return n, err
}

func TestAskHiddenTurnsEchoOffBeforeThePromptAndBackOnAfter(t *testing.T) {
	s := openScreen(t)
	out := &typist{s: s, t: t, answer: "kiosk-pass"}
	got, err := New(s.tty, out).AskHidden(t.Context(), "Password: ")
	if err != nil {
		t.Fatal(err)
	}
	if got != "kiosk-pass" {
		t.Errorf("answer %q, want kiosk-pass", got)
	}
	if len(out.echoAtPrompt) != 1 || out.echoAtPrompt[0] {
		t.Errorf("echo at the prompt: %v, want [false]", out.echoAtPrompt)
	}
	shown := s.settle(t)
	if !strings.Contains(shown, "Password: ") || strings.Contains(shown, "kiosk-pass") {
		t.Errorf("the terminal shows %q: want the prompt and not the password", shown)
	}
	if !s.echoes(t) {
		t.Error("echo is still off after the answer")
	}
}

func TestAskEchoesTheAnswer(t *testing.T) {
	s := openScreen(t)
	out := &typist{s: s, t: t, answer: "maint"}
	got, err := New(s.tty, out).Ask(t.Context(), "Logon: ")
	if err != nil {
		t.Fatal(err)
	}
	if got != "maint" {
		t.Errorf("answer %q, want maint", got)
	}
	if shown := s.settle(t); !strings.Contains(shown, "Logon: maint") {
		t.Errorf("the terminal shows %q: want the logon echoed after its prompt", shown)
	}
}

func TestAskHiddenRefusesWhatIsNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var out strings.Builder
	if _, err := New(r, &out).AskHidden(t.Context(), "Password: "); err == nil || !strings.Contains(err.Error(), "turn echo off") {
		t.Errorf("err = %v, want a failure to turn echo off", err)
	}
	if out.Len() != 0 {
		t.Errorf("asked %q on a pipe that cannot hide the answer", out.String())
	}
}

func TestAskReadsOneLineWithoutItsEnding(t *testing.T) {
	for _, tc := range []struct {
		name, typed string
		want        []string
	}{
		{name: "newline", typed: "maint\n", want: []string{"maint"}},
		{name: "carriage return", typed: "maint\r\n", want: []string{"maint"}},
		{name: "two answers", typed: "maint\nsecond\n", want: []string{"maint", "second"}},
		{name: "last line unended", typed: "maint", want: []string{"maint"}},
		{name: "nothing", typed: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := io.WriteString(w, tc.typed); err != nil {
				t.Fatal(err)
			}
			w.Close()
			term := New(r, io.Discard)
			for _, want := range tc.want {
				if got, err := term.Ask(t.Context(), "? "); err != nil || got != want {
					t.Fatalf("Ask = %q, %v; want %q", got, err, want)
				}
			}
			if got, err := term.Ask(t.Context(), "? "); err == nil {
				t.Errorf("Ask after the input ended = %q, want an error", got)
			}
		})
	}
}

func TestAskingGivesUpWhenTheContextEnds(t *testing.T) {
	for _, hidden := range []bool{true, false} {
		t.Run(fmt.Sprintf("hidden=%v", hidden), func(t *testing.T) {
			s := openScreen(t)
			ctx, cancel := context.WithCancel(t.Context())
			term := New(s.tty, s.tty)
			ask := term.Ask
			if hidden {
				ask = term.AskHidden
			}
			done := make(chan error, 1)
			go func() {
				_, err := ask(ctx, "Password: ")
				done <- err
			}()
			for !strings.Contains(s.shown.String(), "Password: ") {
				time.Sleep(5 * time.Millisecond)
			}
			cancel() // what Ctrl-C does to the CLI's context
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting for an answer after the context ended")
			}
			if !s.echoes(t) {
				t.Error("echo is off after giving up")
			}
		})
	}
}
