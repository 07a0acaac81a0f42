package host

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/endpoint"
	"github.com/portcullis/portcullis/endpoint/guest"
	"github.com/portcullis/portcullis/endpoint/hostauth"
	"github.com/portcullis/portcullis/internal/sshtest"
)

// notifier answers the confirm socket once with answer ("" = connect and never answer).
func notifier(t *testing.T, sock, answer string) {
	t.Helper()
	go func() {
		var conn net.Conn
		var err error
		for range 200 {
			if conn, err = net.Dial("unix", sock); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			return
		}
		defer conn.Close()
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(line, sshtest.Principal) {
			return
		}
		if answer != "" {
			_, _ = conn.Write([]byte(answer + "\n"))
		} else {
			time.Sleep(5 * time.Second)
		}
	}()
}

func TestHostSchemesAllowAndRefuse(t *testing.T) {
	dir := t.TempDir()
	passwords := filepath.Join(dir, "passwd")
	if err := hostauth.SetPassword(passwords, "maint", "correct horse"); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "host.rego")
	policySrc := `package portcullis.host
default allow := false
allow if "ops" in input.groups
deny contains "only ops may use this workstation" if not allow
`
	if err := os.WriteFile(policyFile, []byte(policySrc), 0o600); err != nil {
		t.Fatal(err)
	}
	answers := func(a ...string) ssh.KeyboardInteractiveChallenge {
		return func(_, _ string, q []string, _ []bool) ([]string, error) {
			if len(q) != len(a) {
				return nil, errors.New("unexpected questions")
			}
			return a, nil
		}
	}
	tests := []struct {
		name      string
		cfg       hostauth.Config
		groups    []string
		confirm   bool   // require confirmation by the obligations
		notify    string // the notifier's answer ("" connects and never answers); "-": no confirm socket at all
		challenge ssh.KeyboardInteractiveChallenge
		refusedBy string // "" when allowed
		reason    string
	}{
		{name: "allowlist by user", cfg: hostauth.Config{Chain: []string{"central", "allowlist"}, AllowUsers: []string{sshtest.Principal}}},
		{name: "allowlist by group", cfg: hostauth.Config{Chain: []string{"allowlist"}, AllowGroups: []string{"ops"}}, groups: []string{"dev", "ops"}},
		{name: "allowlist refuses", cfg: hostauth.Config{Chain: []string{"allowlist"}, AllowGroups: []string{"admins"}}, groups: []string{"ops"},
			refusedBy: "allowlist", reason: "not on this Host's allowlist"},
		{name: "rego allows", cfg: hostauth.Config{Chain: []string{"rego"}, RegoFile: policyFile}, groups: []string{"ops"}},
		{name: "rego refuses", cfg: hostauth.Config{Chain: []string{"rego"}, RegoFile: policyFile}, groups: []string{"dev"},
			refusedBy: "rego", reason: "only ops may use this workstation"},
		{name: "password right", cfg: hostauth.Config{Chain: []string{"password"}, PasswordFile: passwords}, challenge: answers("maint", "correct horse")},
		{name: "password wrong", cfg: hostauth.Config{Chain: []string{"password"}, PasswordFile: passwords}, challenge: answers("maint", "battery staple"),
			refusedBy: "password", reason: "wrong logon or password"},
		{name: "password but the Guest cannot answer", cfg: hostauth.Config{Chain: []string{"password"}, PasswordFile: passwords},
			refusedBy: "", reason: "this Guest cannot answer them"},
		{name: "confirm accepted", cfg: hostauth.Config{Chain: []string{"confirm"}, ConfirmTimeout: 20 * time.Second}, notify: "yes"},
		{name: "confirm declined", cfg: hostauth.Config{Chain: []string{"confirm"}, ConfirmTimeout: 20 * time.Second}, notify: "no",
			refusedBy: "confirm", reason: "declined"},
		{name: "confirm unanswered", cfg: hostauth.Config{Chain: []string{"confirm"}, ConfirmTimeout: time.Second}, notify: "",
			refusedBy: "confirm", reason: "did not answer within 1s"},
		{name: "policy demands confirmation, accepted", cfg: hostauth.Config{ConfirmTimeout: 20 * time.Second}, confirm: true, notify: "yes"},
		{name: "policy demands confirmation, no socket", confirm: true, notify: "-",
			refusedBy: "confirm", reason: "no confirm socket"},
		{name: "every scheme of a chain must allow", cfg: hostauth.Config{Chain: []string{"allowlist", "rego"}, AllowUsers: []string{sshtest.Principal}, RegoFile: policyFile},
			groups: []string{"dev"}, refusedBy: "rego", reason: "only ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.notify != "-" && (tt.confirm || slices.Contains(tt.cfg.Chain, "confirm")) {
				tt.cfg.ConfirmSocket = filepath.Join(t.TempDir(), "confirm.sock")
			}
			if slices.Contains(tt.cfg.Chain, "password") {
				tt.cfg.StateDir = t.TempDir() // the Host's, for the password scheme's lock table
			}
			schemes, err := tt.cfg.Build(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if schemes.Confirm != nil {
				ln, err := hostauth.ListenConfirm(tt.cfg.ConfirmSocket, "")
				if err != nil {
					t.Fatal(err)
				}
				go func() { _ = schemes.Confirm.Serve(ctx, ln) }()
				notifier(t, tt.cfg.ConfirmSocket, tt.notify)
			}
			f := newFixture(t)
			f.Obligations.RequireConfirm = tt.confirm
			scfg := f.serverConfig()
			scfg.Auth, scfg.HostName = schemes.For(tt.confirm), "ws-1"
			ccfg := f.clientConfig(t, f.Cert(t, func(r *certs.UserCertRequest) { r.Groups = tt.groups }))
			ccfg.Challenge = tt.challenge
			p := connect(t, ctx, scfg, ccfg)
			if tt.reason == "" {
				if p.clientErr != nil {
					t.Fatalf("refused: %v (host: %v)", p.clientErr, p.served())
				}
				if code, err := guest.Exec(ctx, p.client, "true", nil, nil, nil); err != nil || code != 0 {
					t.Fatalf("exec after the schemes allowed: %d %v", code, err)
				}
				return
			}
			if p.clientErr == nil {
				t.Fatal("the Guest got in")
			}
			if !strings.Contains(p.clientErr.Error(), tt.reason) {
				t.Errorf("the Guest is told %q, want the reason %q", p.clientErr, tt.reason)
			}
			if tt.refusedBy != "" {
				var refused *endpoint.RefusedError
				if !errors.As(p.clientErr, &refused) || refused.Code != "host_refused" || !strings.Contains(refused.Message, "host scheme "+tt.refusedBy+" refused") {
					t.Errorf("Guest error %v; want host_refused naming scheme %s", p.clientErr, tt.refusedBy)
				}
				if err := p.served(); !errors.Is(err, access.ErrHostRefused) {
					t.Errorf("ServeSSH = %v, want a host scheme refusal", err)
				}
			}
		})
	}
}

func TestSessionsRunAsTheConfiguredAccount(t *testing.T) {
	if os.Getuid() != 0 {
		// Without root the Host cannot switch accounts: configuring another one is an error.
		if _, err := LookupAccount("nobody"); !errors.Is(err, endpoint.ErrBadConfig) {
			t.Fatalf("LookupAccount(nobody) as uid %d = %v, want endpoint.ErrBadConfig", os.Getuid(), err)
		}
		return
	}
	acct, err := LookupAccount("nobody")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	scfg := f.serverConfig()
	scfg.Account = acct
	p := connect(t, t.Context(), scfg, f.clientConfig(t, f.Cert(t, nil)))
	if p.clientErr != nil {
		t.Fatal(p.clientErr)
	}
	var out strings.Builder
	if code, err := guest.Exec(t.Context(), p.client, "id -un; echo $USER", nil, &out, nil); err != nil || code != 0 {
		t.Fatalf("exec: %d %v", code, err)
	}
	if out.String() != "nobody\nnobody\n" {
		t.Errorf("the program ran as %q, want nobody", out.String())
	}
	// SFTP inside the agent would run as root: without an sftp program it is refused.
	if _, err := guest.NewCopier(p.client, false, nil); err == nil {
		t.Error("sftp ran inside a root agent for an unprivileged account")
	}
}
