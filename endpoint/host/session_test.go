package host

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/endpoint/guest"
)

func TestExecKeepsStreamsApartAndReturnsTheExitStatus(t *testing.T) {
	client := connected(t, newFixture(t))
	tests := []struct {
		cmd              string
		stdin            string
		wantOut, wantErr string
		wantCode         int
	}{
		{"echo out; echo err >&2; exit 7", "", "out\n", "err\n", 7},
		{"cat", "hello\n", "hello\n", "", 0},
		{"wc -c", "12345", "5\n", "", 0},
		{"cat; echo end", "", "end\n", "", 0},
		{"printf '%s' \"$PORTCULLIS_SESSION_ID\"", "", "sess-TestExecKeepsStreamsApartAndReturnsTheExitStatus", "", 0},
		{"kill -TERM $$", "", "", "", 128 + int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := guest.Exec(t.Context(), client, tt.cmd, strings.NewReader(tt.stdin), &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || stdout.String() != tt.wantOut || stderr.String() != tt.wantErr {
				t.Errorf("code %d stdout %q stderr %q; want %d %q %q", code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestShellRunsOnATerminal(t *testing.T) {
	client := connected(t, newFixture(t))
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := newTranscript()
	sess.Stdout = out
	stdin, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Setenv("LANG", "C.UTF-8"); err != nil {
		t.Fatalf("LANG refused: %v", err)
	}
	if err := sess.Setenv("SECRET", "x"); err == nil {
		t.Error("an arbitrary environment variable was accepted")
	}
	if err := sess.RequestPty("xterm-test", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	// The terminal echoes typed lines, so only a command's output contains the computed text.
	if _, err := io.WriteString(stdin, "test -t 0 && echo on-a-tty; echo term-$TERM lang-$LANG; stty size\n"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "on-a-tty")
	out.MustSee(t, "term-xterm-test lang-C.UTF-8")
	out.MustSee(t, "24 80")
	ok, err := sess.SendRequest("window-change", true, ssh.Marshal(windowChangeMsg{Columns: 100, Rows: 40}))
	if err != nil || !ok {
		t.Fatalf("window-change = %v, %v", ok, err)
	}
	if _, err := io.WriteString(stdin, "stty size; echo hi-$((1+2)); exit 3\n"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "40 100")
	out.MustSee(t, "hi-3")
	var exitErr *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
		t.Fatalf("Wait = %v, want exit status 3", err)
	}
}

func TestSignalReachesTheProgram(t *testing.T) {
	client := connected(t, newFixture(t))
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	out := newTranscript()
	sess.Stdout = out
	// The trap is set before "ready" is printed, so the signal cannot arrive too early.
	if err := sess.Start("trap 'exit 42' INT; echo ready; while :; do sleep 1; done"); err != nil {
		t.Fatal(err)
	}
	out.MustSee(t, "ready")
	if err := sess.Signal(ssh.SIGINT); err != nil {
		t.Fatal(err)
	}
	var exitErr *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 42 {
		t.Fatalf("Wait = %v, want exit status 42 from the INT trap", err)
	}
}

func TestSFTPTransfersFiles(t *testing.T) {
	client := connected(t, newFixture(t))
	sc, err := sftp.NewClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	path := filepath.Join(t.TempDir(), "upload.txt")
	w, err := sc.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello over sftp"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || string(onDisk) != "hello over sftp" {
		t.Fatalf("file on the Host: %q, %v", onDisk, err)
	}
	r, err := sc.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if back, err := io.ReadAll(r); err != nil || string(back) != "hello over sftp" {
		t.Fatalf("read back %q, %v", back, err)
	}
}
