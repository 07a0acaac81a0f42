package ttyprompt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Terminal asks questions on out and reads their answers, one line each, from in, a terminal.
type Terminal struct {
	in    *os.File
	lines *bufio.Reader
	out   io.Writer
	close func()
}

// New returns a Terminal that reads answers from in and writes questions to out.
func New(in *os.File, out io.Writer) *Terminal {
	return &Terminal{in: in, lines: bufio.NewReader(in), out: out, close: func() {}}
}

// Open returns the process's controlling terminal (the console on Windows), whatever its
// standard input and output are; Close closes it.
func Open() (*Terminal, error) {
	in, out, closeAll, err := openTerminal()
	if err != nil {
		return nil, fmt.Errorf("ttyprompt: open the terminal: %w", err)
	}
	t := New(in, out)
	t.close = closeAll
	return t, nil
}

// Close closes a terminal that Open opened; it does nothing to one that New made.
func (t *Terminal) Close() { t.close() }

// Say writes a line that asks nothing (the Host's instructions, for example).
func (t *Terminal) Say(line string) error {
	if _, err := io.WriteString(t.out, line+"\n"); err != nil {
		return fmt.Errorf("ttyprompt: %w", err)
	}
	return nil
}

// Ask shows prompt and returns the line typed after it, echoed as it is typed. It gives up
// when ctx ends (Ctrl-C), where the terminal can be waited on with a deadline (Unix).
func (t *Terminal) Ask(ctx context.Context, prompt string) (string, error) {
	if _, err := io.WriteString(t.out, prompt); err != nil {
		return "", fmt.Errorf("ttyprompt: ask: %w", err)
	}
	return t.readLine(ctx)
}

// AskHidden shows prompt and returns the line typed after it without echoing it. Echo is
// turned off before the prompt is written and restored before AskHidden returns, also when
// ctx ends first.
func (t *Terminal) AskHidden(ctx context.Context, prompt string) (answer string, err error) {
	restore, err := hideEcho(t.in)
	if err != nil {
		return "", fmt.Errorf("ttyprompt: turn echo off: %w", err)
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("ttyprompt: turn echo back on: %w", rerr))
		}
		// The Enter that ended the answer was not echoed either.
		_, _ = io.WriteString(t.out, "\n")
	}()
	if _, err := io.WriteString(t.out, prompt); err != nil {
		return "", fmt.Errorf("ttyprompt: ask: %w", err)
	}
	return t.readLine(ctx)
}

// readLine reads one answer, without its line ending, or gives up when ctx ends.
func (t *Terminal) readLine(ctx context.Context) (string, error) {
	// A terminal opened by path waits in Go's poller, so a deadline in the past wakes the read.
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = t.in.SetReadDeadline(time.Now())
		close(woken)
	})
	line, err := t.lines.ReadString('\n')
	if !stop() {
		<-woken // clear the deadline only after it was set, so the next question can wait
		_ = t.in.SetReadDeadline(time.Time{})
		return "", fmt.Errorf("ttyprompt: no answer: %w", context.Cause(ctx))
	}
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("ttyprompt: read an answer: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
