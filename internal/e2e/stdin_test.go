package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/syncbuf"
)

// execWithInput runs `portcullis exec` as alice on web-1 with stdin as its standard input.
func execWithInput(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, sys.users["alice@example.com"], append([]string{"exec", "web-1"}, args...)...)
	var o, e syncbuf.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("exec %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func TestExecForwardsStdinAndItsEndLikeSSH(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"echo hello | exec -- cat", "hello\n", []string{"--", "cat"}, "hello\n"},
		{"exec -- wc -c < file", strings.Repeat("x", 4321), []string{"--", "wc", "-c"}, "4321\n"},
		{"the end of input ends cat", "", []string{"--", "cat; echo done"}, "done\n"},
		{"-n gives no input", "ignored\n", []string{"-n", "--", "cat; echo done"}, "done\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := execWithInput(t, strings.NewReader(tt.stdin), tt.args...)
			if code != 0 || strings.TrimSpace(stdout) != strings.TrimSpace(tt.want) {
				t.Errorf("exit %d, stdout %q; want 0, %q; stderr:\n%s", code, stdout, tt.want, stderr)
			}
		})
	}
}

// A hundred megabytes piped through `exec … sha256sum` arrive whole: the Host's digest is the
// digest of what went in.
func TestExecPipes100MBThroughSha256sum(t *testing.T) {
	const size = 100 << 20
	sum := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{'p', 'c'}), size), sum)
	stdout, stderr, code := execWithInput(t, src, "--", "sha256sum")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	want := hex.EncodeToString(sum.Sum(nil))
	if got, _, _ := strings.Cut(stdout, " "); got != want {
		t.Errorf("the Host's sha256sum = %q, want %s (what was piped in)", stdout, want)
	}
}

// 'ssh HOST COMMAND' runs the command as OpenSSH does, and a dashed argument without -- says
// where the command goes instead of failing on an unknown flag.
func TestSSHWithACommandRunsItAndDashesNeedTheSeparator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, sys.users["alice@example.com"], "ssh", "web-1", "--", "wc", "-c")
	cmd.Stdin = strings.NewReader("four")
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "4" {
		t.Errorf("ssh web-1 -- wc -c: %q, %v", out, err)
	}
	for _, sub := range []string{"exec", "ssh"} {
		_, stderr, code := guest(t, "alice@example.com", sub, "web-1", "uname", "-a")
		if code == 0 || !strings.Contains(stderr, "portcullis "+sub+" HOST -- COMMAND") {
			t.Errorf("%s web-1 uname -a: exit %d, stderr %q; want the hint to put -- first", sub, code, stderr)
		}
	}
}
