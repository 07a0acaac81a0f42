package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/identity/devidp"
	"github.com/portcullis/portcullis/internal/syncbuf"
)

// walkthrough returns the shell lines of README.md's walkthrough of "Running CM, CS and Host on
// separate machines", between its markers.
func walkthrough(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- walkthrough: [^>]*-->\\s*```sh\\n(.*?)```\\s*<!-- end of walkthrough -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no walkthrough block")
	}
	return string(m[1])
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// The README's walkthrough, run line by line as a newcomer would in one shell: certificates, CM
// with the development identity provider, CS, Host enrollment, two sign-ins and exec. Only the
// ports change, so that the test shares the machine.
func TestTheSeparateMachinesWalkthroughWorks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	script := strings.NewReplacer(":8443", ":"+freePort(t), ":1970", ":"+freePort(t)).Replace(walkthrough(t))
	prelude := "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(sys.bin)+":"+os.Getenv("PATH"), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	approvals := make(chan error, 2)
	go approveSignIns(ctx, t, dir, io.TeeReader(pr, &out), approvals)
	err := cmd.Wait()
	pw.Close()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out.String())
	}
	for range 2 {
		if aerr := <-approvals; aerr != nil {
			t.Errorf("sign-in: %v", aerr)
		}
	}
	// The daemons log to the same terminal; exec's output is a line of its own.
	if !regexp.MustCompile(`(?m)^hello$`).MatchString(out.String()) || !strings.Contains(out.String(), `msg="program started"`) {
		t.Errorf("exec did not print hello from the Host:\n%s", out.String())
	}
}

// approveSignIns answers each device sign-in the walkthrough prints, as the user its comment
// names: dave first, then alice with her one-time code.
func approveSignIns(ctx context.Context, t *testing.T, dir string, r io.Reader, done chan<- error) {
	prompt := regexp.MustCompile(`To sign in, open (\S+) and enter the code (\S+)`)
	users := []struct{ email, otp string }{{"dave@example.com", ""}, {"alice@example.com", "123456"}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := prompt.FindStringSubmatch(sc.Text())
		if m == nil || len(users) == 0 {
			continue
		}
		u := users[0]
		users = users[1:]
		go func() { done <- signInAt(ctx, dir, m[1], m[2], u.email, u.otp) }()
	}
	_, _ = io.Copy(io.Discard, r)
	for range users {
		done <- fmt.Errorf("the walkthrough never asked for a sign-in")
	}
}

// signInAt answers the development identity provider's device sign-in page as a browser would.
func signInAt(ctx context.Context, dir, uri, code, email, otp string) error {
	ca, err := os.ReadFile(filepath.Join(dir, "certs", "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return devidp.SubmitDeviceLogin(ctx, client, uri, code, email, "password", otp)
}
