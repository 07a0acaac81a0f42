package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
)

// The Host agent refuses a relative --shell and a --heartbeat-url that is not http(s) at start,
// naming the flag, before it enrols or makes its state directory.
func TestTheHostChecksItsShellAndHeartbeatURLBeforeEnrolling(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, shell, heartbeat, want string
	}{
		{"a relative shell", "sh", "", `--shell "sh" is not an absolute path`},
		{"an ftp heartbeat URL", "", "ftp://nowhere", `--heartbeat-url "ftp://nowhere"`},
		{"a heartbeat URL without a host", "", "http://", `--heartbeat-url "http://"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stateDir := filepath.Join(t.TempDir(), "state")
			cfg := hostConfig{CMURL: "https://127.0.0.1:1", StateDir: stateDir, EnrollToken: "pcet_x", GCPercent: hostGCPercent,
				Shell: tc.shell, HeartbeatURL: tc.heartbeat, RunAs: me.Username, logConfig: logConfig{LogLevel: "error", LogFormat: "text"}}
			err := runHost(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("runHost: %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
				t.Errorf("runHost made its state directory (stat: %v)", err)
			}
		})
	}
}

// A Host whose enrollment fails leaves no state directory behind.
func TestAFailedEnrollmentLeavesNoStateDirectory(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	cfg := hostConfig{CMURL: "https://127.0.0.1:1", StateDir: stateDir, EnrollToken: "pcet_x", GCPercent: hostGCPercent, RunAs: me.Username,
		logConfig: logConfig{LogLevel: "error", LogFormat: "text"}}
	if err := runHost(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "enroll") {
		t.Fatalf("runHost against no CM: %v, want the enrollment to fail", err)
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("a failed enrollment left its state directory (stat: %v)", err)
	}
}

// Only commands that act with the user's sign-in are told to sign in again: a Host's or a
// relay's refused enrollment is not.
func TestOnlyGuestCommandsAreToldToSignInAgain(t *testing.T) {
	refused := fmt.Errorf("enroll: %w", &api.StatusError{Status: 401, Body: api.Error{Code: access.ErrUnauthenticated, Reason: "bad token"}})
	root := newRootCmd()
	for _, tc := range []struct {
		path []string
		hint bool
	}{
		{[]string{"host"}, false},
		{[]string{"host", "passwd"}, false},
		{[]string{"cs"}, false},
		{[]string{"cm"}, false},
		{[]string{"ssh"}, true},
		{[]string{"login"}, true},
	} {
		cmd, _, err := root.Find(tc.path)
		if err != nil {
			t.Fatalf("%v: %v", tc.path, err)
		}
		got := strings.Contains(hintFor(cmd, refused).Error(), "portcullis login")
		if got != tc.hint {
			t.Errorf("portcullis %s: sign-in hint %v, want %v", strings.Join(tc.path, " "), got, tc.hint)
		}
	}
}
