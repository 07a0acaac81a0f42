package guest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/portcullis/portcullis/internal/sshtest"
)

func TestParseForwardSpec(t *testing.T) {
	tests := []struct {
		spec string
		want ForwardSpec
		err  bool
	}{
		{"localhost:8080", ForwardSpec{Target: "localhost:8080"}, false},
		{"15432:localhost:5432", ForwardSpec{LocalPort: 15432, Target: "localhost:5432"}, false},
		{"0:db.internal:5432", ForwardSpec{Target: "db.internal:5432"}, false},
		{"[::1]:22", ForwardSpec{Target: "[::1]:22"}, false},
		{"localhost", ForwardSpec{}, true},
		{"localhost:0", ForwardSpec{}, true},
		{"localhost:http", ForwardSpec{}, true},
		{"x:localhost:80", ForwardSpec{}, true},
		{"70000:localhost:80", ForwardSpec{}, true},
		{":80", ForwardSpec{}, true},
	}
	for _, tt := range tests {
		got, err := ParseForwardSpec(tt.spec)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseForwardSpec(%q) = %+v, %v; want %+v, error %v", tt.spec, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadForward) {
			t.Errorf("ParseForwardSpec(%q) error %v does not wrap ErrBadForward", tt.spec, err)
		}
	}
}

func TestListenForwardIsLoopbackOnly(t *testing.T) {
	ln, err := ListenForward(ForwardSpec{Target: "localhost:80"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !strings.HasPrefix(ln.Addr().String(), "127.0.0.1:") {
		t.Errorf("listening on %s", ln.Addr())
	}
}

func TestPinKnownHostReplacesOnlyThatHost(t *testing.T) {
	f := newFixture(t)
	file := filepath.Join(t.TempDir(), "sub", "known_hosts")
	other := sshtest.NewSigner(t).PublicKey()
	if err := PinKnownHost(file, "web-1.portcullis", other); err != nil {
		t.Fatal(err)
	}
	if err := PinKnownHost(file, "db-1.portcullis", other); err != nil {
		t.Fatal(err)
	}
	if err := PinKnownHost(file, "web-1.portcullis", f.HostKey.PublicKey()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "db-1.portcullis ") || !strings.HasPrefix(lines[1], "web-1.portcullis ") {
		t.Fatalf("known_hosts:\n%s", data)
	}
	if !strings.Contains(lines[1], strings.Fields(string(ssh.MarshalAuthorizedKey(f.HostKey.PublicKey())))[1]) {
		t.Errorf("web-1 is not pinned to the new key:\n%s", data)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("known_hosts mode %v", st.Mode().Perm())
	}
}
