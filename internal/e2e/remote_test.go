package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/internal/syncbuf"
)

// sshAgent starts a real ssh-agent for the test and returns its socket.
func sshAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ssh-agent: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not come up: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openSSH is alice's OpenSSH setup: the ssh_config block `portcullis config ssh` printed, and
// an ssh-agent for the proxy to hand the session keys to.
type openSSH struct {
	config string
	env    []string
}

func newOpenSSH(t *testing.T, user string) openSSH {
	t.Helper()
	stdout, stderr, code := guest(t, user, "config", "ssh")
	if code != 0 {
		t.Fatalf("config ssh: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "Host *.portcullis") || !strings.Contains(stdout, "User "+user) {
		t.Fatalf("config ssh printed:\n%s", stdout)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(cfg, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SSH_AUTH_SOCK="+sshAgent(t), "HOME="+dir)
	return openSSH{config: cfg, env: env}
}

// run runs an OpenSSH program (ssh, scp, sftp) with the Portcullis ssh_config.
func (o openSSH) run(t *testing.T, stdin string, prog string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"-F", o.config, "-o", "BatchMode=yes"}, args...)
	cmd := exec.CommandContext(ctx, prog, full...)
	cmd.Env = o.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out.String(), errb.String(), code
}

func TestOpenSSHClientsReachAHostThroughTheGateway(t *testing.T) {
	o := newOpenSSH(t, "alice@example.com")

	stdout, stderr, code := o.run(t, "", "ssh", "-v", "web-1.portcullis", "echo via-openssh; echo to-stderr >&2; exit 4")
	if code != 4 || stdout != "via-openssh\n" || !strings.Contains(stderr, "to-stderr") {
		t.Fatalf("ssh: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	// Debian's OpenSSH (9.2, no mlkem768x25519-sha256) lands on the fastest algorithms of the
	// very_high level: curve25519 and AES-256-GCM (config ssh lists the level's ciphers).
	for _, want := range []string{"kex: algorithm: curve25519-sha256", "kex: server->client cipher: aes256-gcm@openssh.com"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("ssh -v does not show %q:\n%s", want, stderr)
		}
	}

	dir := t.TempDir()
	local := filepath.Join(dir, "up.bin")
	payload := []byte(rand.Text() + strings.Repeat("x", 200000))
	if err := os.WriteFile(local, payload, 0o640); err != nil {
		t.Fatal(err)
	}
	remote := "/tmp/portcullis-e2e-scp-" + rand.Text()[:8]
	t.Cleanup(func() { os.Remove(remote) })
	if _, stderr, code := o.run(t, "", "scp", local, "web-1.portcullis:"+remote); code != 0 {
		t.Fatalf("scp upload: exit %d: %s", code, stderr)
	}
	if got, err := os.ReadFile(remote); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("the Host's copy differs from what scp sent (err %v)", err)
	}
	back := filepath.Join(dir, "back.bin")
	if _, stderr, code := o.run(t, "", "scp", "web-1.portcullis:"+remote, back); code != 0 {
		t.Fatalf("scp download: exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(back); !bytes.Equal(got, payload) {
		t.Fatal("scp downloaded different bytes")
	}

	batch := "ls -l " + remote + "\nget " + remote + " " + filepath.Join(dir, "sftp.bin") + "\n"
	stdout, stderr, code = o.run(t, batch, "sftp", "-b", "-", "web-1.portcullis")
	if code != 0 || !strings.Contains(stdout, filepath.Base(remote)) {
		t.Fatalf("sftp: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "refused") {
		t.Errorf("sftp offered an earlier session's certificate first: %s", stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "sftp.bin")); !bytes.Equal(got, payload) {
		t.Fatal("sftp downloaded different bytes")
	}
}

func TestOpenSSHBelowTheHostsLevelIsRefused(t *testing.T) {
	// web-1 runs at its default very_high: an OpenSSH client that insists on AES-128 finds no
	// common cipher, and the session never starts.
	o := newOpenSSH(t, "alice@example.com")
	_, stderr, code := o.run(t, "", "ssh", "-o", "Ciphers=aes128-ctr,aes128-gcm@openssh.com", "web-1.portcullis", "echo got-in")
	if code == 0 || !strings.Contains(stderr, "no matching cipher") {
		t.Fatalf("ssh with AES-128 only: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestOpenSSHRefusedByPolicyShowsTheReasons(t *testing.T) {
	o := newOpenSSH(t, "alice@example.com")
	_, stderr, code := o.run(t, "", "ssh", "no-such-host.portcullis", "true")
	if code == 0 || !strings.Contains(stderr, "unknown host") {
		t.Fatalf("ssh to an unknown host: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestInteractiveShellOnATerminal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := sys.c.Guest(ctx, sys.users["alice@example.com"], "ssh", "web-1")
	cmd.Env = append(os.Environ(), "TERM=xterm-e2e")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 111})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	out := &syncbuf.Buffer{}
	go func() { _, _ = io.Copy(out, ptmx) }()
	waitFor := func(re string) {
		t.Helper()
		r := regexp.MustCompile(re)
		for !r.MatchString(out.String()) {
			if ctx.Err() != nil {
				t.Fatalf("never saw %q; terminal:\n%s", re, out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	io.WriteString(ptmx, "echo term=$TERM; stty size\n")
	waitFor(`term=xterm-e2e`)
	waitFor(`33 111`)
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 132}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), "50 132") {
		io.WriteString(ptmx, "stty size\n")
		if ctx.Err() != nil {
			t.Fatalf("the resize never reached the Host; terminal:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	io.WriteString(ptmx, "sleep 30; echo not-interrupted\n")
	time.Sleep(500 * time.Millisecond)
	io.WriteString(ptmx, "\x03") // ^C reaches the remote terminal, not the Guest
	io.WriteString(ptmx, "echo after-interrupt; exit 5\n")
	waitFor(`after-interrupt`)
	err = cmd.Wait()
	if cmd.ProcessState.ExitCode() != 5 {
		t.Fatalf("exit status %d (%v), want the shell's 5; terminal:\n%s", cmd.ProcessState.ExitCode(), err, out.String())
	}
	if regexp.MustCompile(`(?m)^not-interrupted`).MatchString(out.String()) {
		t.Fatalf("^C did not interrupt the remote sleep; terminal:\n%s", out.String())
	}
}

// forwardProc runs `portcullis forward` and returns the loopback address it listens on.
func forwardProc(t *testing.T, user, host, spec string) (string, *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := sys.c.Guest(ctx, sys.users[user], "forward", host, spec)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	log := &syncbuf.Buffer{}
	lines := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`forwarding (127\.0\.0\.1:\d+) to`)
	for lines.Scan() {
		log.Write([]byte(lines.Text() + "\n"))
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			go func() { _, _ = io.Copy(log, stderr) }()
			return m[1], log
		}
	}
	t.Fatalf("forward ended before listening: %s", log.String())
	return "", nil
}

func TestForwardReachesAListedTargetOnTheHost(t *testing.T) {
	// localhost:8080 is a forward target the default policy lists for ops.
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatalf("the test needs 127.0.0.1:8080 free (the policy's forward target): %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				io.WriteString(c, "target says "+line)
			}()
		}
	}()
	addr, log := forwardProc(t, "alice@example.com", "web-1", "localhost:8080")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the Guest listens on %s, want loopback only", addr)
	}
	for i := range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "hello\n")
		got, _ := io.ReadAll(c)
		c.Close()
		if string(got) != "target says hello\n" {
			t.Fatalf("connection %d through the forward got %q; log:\n%s", i, got, log.String())
		}
	}
}

func TestForwardToAnUnlistedTargetIsRefused(t *testing.T) {
	addr, log := forwardProc(t, "alice@example.com", "web-1", "localhost:22")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	got, _ := io.ReadAll(c)
	c.Close()
	if len(got) != 0 {
		t.Fatalf("an unlisted target answered %q", got)
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), "channel_not_allowed") {
		if time.Now().After(deadline) {
			t.Fatalf("the refusal was not reported; log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "localhost:8080") {
		t.Errorf("the refusal does not name the allowed targets: %s", log.String())
	}
}

func TestCopyFilesBothWaysRecursively(t *testing.T) {
	src := t.TempDir()
	// big.bin is many SFTP requests long, and not a whole number of them: a reordered, lost or
	// repeated request changes its digest.
	big := make([]byte, 24<<20+12345)
	rand.Read(big)
	files := map[string]string{"a.txt": "alpha\n", "sub/b.txt": "beta\n", "sub/deeper/c.bin": rand.Text(), "sub/big.bin": string(big)}
	for name, content := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remote := "/tmp/portcullis-e2e-cp-" + rand.Text()[:8]
	t.Cleanup(func() { os.RemoveAll(remote) })
	start := time.Now()
	if _, stderr, code := guest(t, "alice@example.com", "cp", "-r", src, "web-1:"+remote); code != 0 {
		t.Fatalf("cp up: exit %d: %s", code, stderr)
	}
	back := filepath.Join(t.TempDir(), "back")
	if _, stderr, code := guest(t, "alice@example.com", "cp", "-r", "web-1:"+remote, back); code != 0 {
		t.Fatalf("cp down: exit %d: %s", code, stderr)
	}
	for name, content := range files {
		for _, root := range []string{remote, back} {
			got, err := os.ReadFile(filepath.Join(root, name))
			if err != nil || sha256.Sum256(got) != sha256.Sum256([]byte(content)) {
				t.Errorf("%s/%s: %d bytes (%v) with sha256 %x, want %d bytes with sha256 %x", root, name, len(got), err, sha256.Sum256(got), len(content), sha256.Sum256([]byte(content)))
			}
		}
	}
	filepath.WalkDir(back, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(p, ".portcullis-") {
			t.Errorf("a temporary file is left behind: %s", p)
		}
		return nil
	})
	copiesEndedClosed(t, start, 2)
	_, stderr, code := guest(t, "alice@example.com", "cp", src, "web-1:"+remote)
	if code == 0 || !strings.Contains(stderr, "use -r") {
		t.Errorf("copying a directory without -r: exit %d, stderr %q", code, stderr)
	}
}

func TestHostsListsWhatTheUserMayReach(t *testing.T) {
	stdout, stderr, code := guest(t, "alice@example.com", "hosts")
	if code != 0 {
		t.Fatalf("hosts: exit %d: %s", code, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^web-1\s+online\s+\S+\s+env=staging,team=web\s+exec,forward,sftp,shell\s+high$`),
		regexp.MustCompile(`(?m)^db-1\s+online\s+\S+\s+env=prod,team=data\s+\S+\s+very_high$`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("alice's hosts lack %s:\n%s", want, stdout)
		}
	}
	stdout, _, code = guest(t, "mallory@example.com", "hosts")
	if code != 0 || strings.Contains(stdout, "web-1") || strings.Contains(stdout, "db-1") {
		t.Errorf("mallory may reach nothing, and sees (exit %d):\n%s", code, stdout)
	}
}

func TestAGuestInsistingOnALevelBelowTheMinimumIsRefused(t *testing.T) {
	_, stderr, code := guest(t, "alice@example.com", "exec", "--encryption", "medium", "db-1", "--", "true")
	if code == 0 || !strings.Contains(stderr, `"medium"`) || !strings.Contains(stderr, `"very_high"`) {
		t.Fatalf("medium on a production host: exit %d, stderr:\n%s", code, stderr)
	}
}

// copiesEndedClosed waits until alice's n sessions to web-1 since start have ended and checks
// that each ended "closed": a copy that succeeded is not recorded as ended in error.
func copiesEndedClosed(t *testing.T, start time.Time, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ss []api.Session
		decodeList(t, "carol@example.com", &ss, "sessions", "ls", "--user", "alice@example.com", "--host", "web-1", "--format", "json")
		var mine []api.Session
		ended := 0
		for _, s := range ss {
			if s.StartedAt.After(start) {
				mine = append(mine, s)
				if s.EndedAt != nil && s.EndReason != "" {
					ended++
				}
			}
		}
		if len(mine) == n && ended == n {
			for _, s := range mine {
				if s.EndReason != "closed" {
					t.Errorf("session %s of a copy that succeeded ended %q, want closed", s.ID, s.EndReason)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's copies since %v: %d sessions, %d ended; want %d ended", start, len(mine), ended, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
