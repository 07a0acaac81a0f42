package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/internal/syncbuf"
	"github.com/portcullis/portcullis/localstack"
)

// A Host that died seconds ago still counts as online (its last heartbeat is recent), so a
// connect to it is granted; nobody collects its request. The request expires, the CM ends the
// session, and the CS tells the Guest waiting there why, before its own pairing timeout.
func TestAGuestIsToldWhenTheHostNeverCollectsTheRequest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _, alice := startSmallStack(ctx, t, localstack.Options{Bin: sys.bin, Dir: filepath.Join(t.TempDir(), "gone")},
		"cs-gone-1", localstack.HostSpec{Name: "db-1", Tags: map[string]string{"env": "prod"}, Tenant: "acme"})
	c.Proc("db-1").Kill()

	start := time.Now()
	cmd := c.Guest(ctx, alice, "exec", "db-1", "--", "true")
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("exec to a dead Host succeeded:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != access.ErrHostNotAnswering.ExitCode() || !strings.Contains(out.String(), access.ErrHostNotAnswering.Message()) {
		t.Fatalf("exec to a dead Host: exit %d after %v, output:\n%s\nwant exit %d and %q", code, took, out.String(), access.ErrHostNotAnswering.ExitCode(), access.ErrHostNotAnswering.Message())
	}
	t.Logf("the Guest was told the Host is not answering %v after it asked", took)
}
