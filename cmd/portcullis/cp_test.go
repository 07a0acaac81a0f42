package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

func TestBarAndHumanBytes(t *testing.T) {
	tests := []struct {
		done, size int64
		want       string
	}{
		{0, 100, "[                              ]   0% 0.0 B"},
		{50, 100, "[###############               ]  50% 50.0 B"},
		{3 << 20, 3 << 20, "[##############################] 100% 3.0 MiB"},
		{0, 0, "[##############################] 100% 0.0 B"},
	}
	for _, tt := range tests {
		if got := bar(tt.done, tt.size); got != tt.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tt.done, tt.size, got, tt.want)
		}
	}
}

func TestProgressBarOnlyOnATerminalAndOnlyForLongFiles(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "not-a-tty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	clock := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	if progressBar(f, now) != nil {
		t.Error("a progress bar on a file")
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	p := progressBar(tty, now)
	if p == nil {
		t.Fatal("no progress bar on a terminal")
	}
	p("quick.txt", 0, 10)
	p("quick.txt", 10, 10) // done within a second: nothing drawn
	p("slow.bin", 0, 100)
	clock = clock.Add(progressAfter + time.Second)
	p("slow.bin", 100, 100)
	buf := make([]byte, 4096)
	n, _ := ptmx.Read(buf)
	out := string(buf[:n])
	if strings.Contains(out, "quick.txt") || !strings.Contains(out, "slow.bin") || !strings.Contains(out, "100%") {
		t.Errorf("terminal shows %q", out)
	}
}

// A file name from the Host reaches the terminal without its control characters: a
// compromised Host cannot retitle the window or rewrite the screen through the progress bar.
func TestProgressBarSanitizesTheHostsFileNames(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"a window title sequence", "\x1b]0;owned\x07evil.bin", "]0;ownedevil.bin"},
		{"a screen clearing sequence", "\x1b[2J\x1b[Hclear.bin", "[2J[Hclear.bin"},
		{"a carriage return hiding the name", "real.bin\rfake.bin", "real.binfake.bin"},
		{"invalid UTF-8", "bad\xffname.bin", "badname.bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			defer tty.Close()
			clock := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			p := progressBar(tty, func() time.Time { return clock })
			p(tt.file, 0, 100)
			clock = clock.Add(progressAfter + time.Second)
			p(tt.file, 100, 100)
			buf := make([]byte, 4096)
			n, _ := ptmx.Read(buf)
			out := string(buf[:n])
			if !strings.Contains(out, "\r"+tt.want+" [") || strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("terminal shows %q, want the name as %q", out, tt.want)
			}
		})
	}
}
