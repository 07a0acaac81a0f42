package ticket

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holderEnv names the directory the helper process holds a replay log open in.
const holderEnv = "PORTCULLIS_TEST_REPLAY_HOLDER_DIR"

// TestMain runs the tests, or, in the child process holdInAnotherProcess starts (holderEnv
// set), holds that directory's replay log open instead.
func TestMain(m *testing.M) {
	if dir := os.Getenv(holderEnv); dir != "" {
		os.Exit(holdReplayLog(dir))
	}
	os.Exit(m.Run())
}

// holdReplayLog opens the replay log in dir, says "ready" on standard output and holds it until
// its standard input closes; it returns the process's exit status.
func holdReplayLog(dir string) int {
	r, err := OpenReplayCache(dir, time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Close()
	os.Stdout.WriteString("ready\n")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	return 0
}

// holdInAnotherProcess opens dir's replay log in a child process and returns a function that
// ends it (and with it the lock).
func holdInAnotherProcess(t *testing.T, dir string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holderEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		_ = cmd.Process.Kill()
		t.Fatalf("helper process: %q, %v", line, err)
	}
	return func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
}

func TestASecondReplayCacheOnOneDirIsRefused(t *testing.T) {
	now := testNow
	exp := now.Add(time.Minute)
	cases := []struct {
		name string
		// hold opens dir's log as the first user and returns how that user stops.
		hold func(t *testing.T, dir string) (stop func())
	}{
		{"in the same process", func(t *testing.T, dir string) func() {
			r := openCache(t, dir, now)
			if err := r.Use("tk-1", exp, now); err != nil {
				t.Fatal(err)
			}
			return func() { _ = r.Close() }
		}},
		{"in the same process, which then crashes", func(t *testing.T, dir string) func() {
			r := openCache(t, dir, now)
			if err := r.Use("tk-1", exp, now); err != nil {
				t.Fatal(err)
			}
			return func() { crash(r) }
		}},
		{"in another process", holdInAnotherProcess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			stop := tc.hold(t, dir)
			second, err := OpenReplayCache(dir, now)
			if !errors.Is(err, ErrReplayLogInUse) {
				if second != nil {
					_ = second.Close()
				}
				stop()
				t.Fatalf("second open while the log is held: %v, want ErrReplayLogInUse", err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("the refusal %q does not name the directory %s", err, dir)
			}
			stop()
			third := openCache(t, dir, now)
			if tc.name != "in another process" {
				if err := third.Use("tk-1", exp, now); err == nil {
					t.Error("the ticket the first cache admitted is admitted again after it stopped")
				}
			}
		})
	}
}

func TestAStateDirWithoutAReplayLogRefusesTicketsValidBeforeItOpened(t *testing.T) {
	opened := testNow.Add(time.Hour)
	cases := []struct {
		name string
		// prepare leaves dir as the previous run did (or did not).
		prepare       func(t *testing.T, dir string)
		wantKnownFrom bool // KnownSince is set to the open time
	}{
		{"a new directory", func(*testing.T, string) {}, true},
		{"an empty existing directory", func(t *testing.T, dir string) {
			if err := os.MkdirAll(dir, logDirMode); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a directory lost and recreated after a ticket was used", func(t *testing.T, dir string) {
			r := openCache(t, dir, testNow)
			if err := r.Use("tk-1", opened.Add(time.Minute), testNow); err != nil {
				t.Fatal(err)
			}
			_ = r.Close()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, logDirMode); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a directory a previous run used, its ids all expired", func(t *testing.T, dir string) {
			r := openCache(t, dir, testNow)
			if err := r.Use("tk-1", testNow.Add(time.Minute), testNow); err != nil {
				t.Fatal(err)
			}
			_ = r.Close()
		}, false},
		{"a directory with unexpired ids", func(t *testing.T, dir string) {
			r := openCache(t, dir, testNow)
			if err := r.Use("tk-1", opened.Add(time.Minute), testNow); err != nil {
				t.Fatal(err)
			}
			_ = r.Close()
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			tc.prepare(t, dir)
			r := openCache(t, dir, opened)
			if got := !r.KnownSince.IsZero(); got != tc.wantKnownFrom {
				t.Fatalf("KnownSince %v, want set: %v", r.KnownSince, tc.wantKnownFrom)
			}
			if tc.wantKnownFrom {
				if !r.KnownSince.Equal(opened) {
					t.Fatalf("KnownSince %v, want the open time %v", r.KnownSince, opened)
				}
				if !r.admitsUnseen(opened.Add(-30*time.Second), DefaultSkew) {
					t.Error("a ticket valid from before the open, perhaps used unseen, is not refused")
				}
				if r.admitsUnseen(opened.Add(DefaultSkew+time.Second), DefaultSkew) {
					t.Error("a ticket valid only from after the open is refused")
				}
			}
		})
	}
}
