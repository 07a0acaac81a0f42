package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenRunsXDGOpen checks that Open hands the address, as one argument, to the xdg-open
// found on PATH (here a script recording its arguments, standing in for the desktop's).
func TestOpenRunsXDGOpen(t *testing.T) {
	dir := t.TempDir()
	got := filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" > " + got + ".tmp && mv " + got + ".tmp " + got + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	const address = "https://idp.example.com/authorize?a=1&b=2"
	if err := Open(context.Background(), address); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(got)
		if err == nil {
			if want := "1\n" + address + "\n"; string(b) != want {
				t.Fatalf("xdg-open got %q, want %q", b, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("xdg-open was not run: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
