package hostauth

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	err := Config{Chain: []string{"allowlist", "central", "magic", "password", "password", "rego", "confirm"}, ConfirmTimeout: -1}.Validate()
	for _, want := range []string{
		"central must come first", `unknown scheme "magic"`, `"password" is listed twice`, "password needs a password file",
		"password needs a state dir", "rego needs a rego file", "confirm needs a confirm socket", "allowlist needs users or groups", "negative",
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
