package hostauth

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashes(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %q is not argon2id with the documented parameters", hash)
	}
	tests := []struct {
		name, hash, password string
		ok                   bool
		err                  error
	}{
		{"right password", hash, "correct horse", true, nil},
		{"wrong password", hash, "correct horsE", false, nil},
		{"not argon2id", "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x", false, ErrBadHash},
		{"absurd memory", "$argon2id$v=19$m=99999999,t=3,p=4$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x", false, ErrBadHash},
		{"garbage", "hunter2", "hunter2", false, ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, tt.password)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Errorf("VerifyPassword = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
}

func TestPasswordFileAndLockout(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	for _, step := range []struct{ logon, password string }{{"maint", "one"}, {"ops", "two"}, {"maint", "three"}} {
		if err := SetPassword(file, step.logon, step.password); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode: %v %v", st, err)
	}
	data, _ := os.ReadFile(file)
	if strings.Count(string(data), "maint ") != 1 || strings.Contains(string(data), "three") {
		t.Fatalf("password file:\n%s", data)
	}
	if err := SetPassword(file, "bad logon", "x"); err == nil {
		t.Error("a logon with a space was accepted")
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	p := &Password{File: file, Now: func() time.Time { return now }}
	try := func(password string) error {
		ask := func(context.Context, string, []string, []bool) ([]string, error) {
			return []string{"maint", password}, nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no failure delay in the test
		return p.Authorize(ctx, &Request{Ask: ask})
	}
	if err := try("three"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	for range PasswordFailuresAllowed {
		if err := try("wrong"); err == nil || !strings.Contains(err.Error(), "wrong logon or password") {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if err := try("three"); err == nil || !strings.Contains(err.Error(), "locked until") {
		t.Fatalf("after %d failures the right password gives %v, want a lockout", PasswordFailuresAllowed, err)
	}
	now = now.Add(PasswordLockout + time.Second)
	if err := try("three"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	if err := p.Authorize(context.Background(), &Request{}); err == nil {
		t.Error("a connection that cannot ask was allowed")
	}
}

func TestConfigValidate(t *testing.T) {
	err := Config{Chain: []string{"allowlist", "central", "magic", "password", "password", "rego", "confirm"}, ConfirmTimeout: -1}.Validate()
	for _, want := range []string{
		"central must come first", `unknown scheme "magic"`, `"password" is listed twice`, "password needs a password file",
		"rego needs a rego file", "confirm needs a confirm socket", "allowlist needs users or groups", "negative",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to say %q", err, want)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero Config (central alone) is invalid: %v", err)
	}
}

func TestBrokenRegoPolicyIsAnError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "host.rego")
	if err := os.WriteFile(file, []byte("package portcullis.host\nallow if {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Config{Chain: []string{"rego"}, RegoFile: file}).Build(context.Background()); err == nil {
		t.Fatal("a broken host policy was accepted")
	}
}

func TestConfirmSocketModes(t *testing.T) {
	dir := t.TempDir()
	self, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	group, err := user.LookupGroupId(self.Gid)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		group string
		mode  os.FileMode
	}{{"", 0o600}, {group.Name, 0o660}}
	for _, tt := range tests {
		path := filepath.Join(dir, "confirm-"+tt.group+".sock")
		ln, err := ListenConfirm(path, tt.group)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		ln.Close()
		if err != nil || st.Mode().Perm() != tt.mode {
			t.Errorf("group %q: socket mode %v (%v), want %v", tt.group, st.Mode().Perm(), err, tt.mode)
		}
	}
	if _, err := ListenConfirm(filepath.Join(dir, "x.sock"), "no-such-group-portcullis"); err == nil {
		t.Error("an unknown group was accepted")
	}
}

func TestConfirmWithoutANotifierTimesOut(t *testing.T) {
	c := &Confirm{Timeout: 50 * time.Millisecond}
	err := c.Authorize(context.Background(), &Request{User: "alice@example.com"})
	if err == nil || !strings.Contains(err.Error(), "no notifier is connected") {
		t.Errorf("Authorize = %v", err)
	}
}
