package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/certs"
	"github.com/portcullis/portcullis/internal/syncbuf"
)

// Timings of the daemon logging test.
const (
	// daemonLogTimeout bounds the wait for a daemon's expected log line (a CM compiles and tests
	// its policy first; the machine is shared).
	daemonLogTimeout = 90 * time.Second
	// daemonStopTimeout bounds the wait for a daemon to end once its context is cancelled.
	daemonStopTimeout = 30 * time.Second
)

// closedURL is a URL nothing answers: no socket listens on port 0, so every dial is refused.
const closedURL = "https://127.0.0.1:0"

// daemonUnderTest is a daemon command line that runs without the rest of the system and logs
// until at least the line until.
type daemonUnderTest struct {
	args  func(dir, certsDir string) []string
	until string
}

// daemonsUnderTest returns the three daemons, each started so that it logs a line of its own
// soon: the CM serves (on its own), the CS fails to reach its CM and retries, the Host announces
// its start and then fails to enrol.
func daemonsUnderTest() map[string]daemonUnderTest {
	return map[string]daemonUnderTest{
		"cm": {
			args: func(dir, certsDir string) []string {
				return []string{"cm", "--listen", "127.0.0.1:0", "--public-url", closedURL, "--certs-dir", certsDir,
					"--store", "sqlite:" + filepath.Join(dir, "cm.db"), "--dev-idp"}
			},
			until: "connection manager listening",
		},
		"cs": {
			args: func(_, certsDir string) []string {
				return []string{"cs", "--listen", "127.0.0.1:0", "--http-listen", "", "--metrics-listen", "",
					"--cm", closedURL, "--certs-dir", certsDir}
			},
			until: "fetch ticket keys from CM",
		},
		"host": {
			args: func(dir, _ string) []string {
				return []string{"host", "--cm", closedURL, "--state-dir", filepath.Join(dir, "host"),
					"--enroll-token", "pcet_test", "--name", "log-test"}
			},
			until: "host agent starting",
		},
	}
}

// TestDaemonsLogInTheFormatAsked: cm, cs and host take --log-format text or json (also as
// log-format in the configuration file and PORTCULLIS_LOG_FORMAT), default to text, refuse any
// other format before they log anything, and in json write one JSON object a line.
func TestDaemonsLogInTheFormatAsked(t *testing.T) {
	certsDir := filepath.Join(t.TempDir(), "certs")
	// cs-eu-1 is the cs command's default id: its own certificate is where cs looks for it.
	if err := certs.Init(certsDir, certs.InitOptions{Algorithm: certs.AlgP384, Relays: []string{"cs-eu-1"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, daemon string
		// flags are added to the daemon's command line; env is PORTCULLIS_LOG_FORMAT and file
		// the configuration file's content, when not empty.
		flags     []string
		env, file string
		// want is the format of the lines; "" means the daemon refuses to start.
		want string
	}{
		{name: "cm json", daemon: "cm", flags: []string{"--log-format", "json"}, want: logFormatJSON},
		{name: "cm text", daemon: "cm", flags: []string{"--log-format", "text"}, want: logFormatText},
		{name: "cm xml", daemon: "cm", flags: []string{"--log-format", "xml"}},
		{name: "cs json", daemon: "cs", flags: []string{"--log-format", "json"}, want: logFormatJSON},
		{name: "cs text", daemon: "cs", flags: []string{"--log-format", "text"}, want: logFormatText},
		{name: "cs logfmt", daemon: "cs", flags: []string{"--log-format", "logfmt"}},
		{name: "host json", daemon: "host", flags: []string{"--log-format", "json"}, want: logFormatJSON},
		{name: "host text", daemon: "host", flags: []string{"--log-format", "text"}, want: logFormatText},
		{name: "host JSON", daemon: "host", flags: []string{"--log-format", "JSON"}},
		{name: "host default", daemon: "host", want: logFormatText},
		{name: "host env json", daemon: "host", env: "json", want: logFormatJSON},
		{name: "host env yaml", daemon: "host", env: "yaml"},
		{name: "cs file json", daemon: "cs", file: "log-format: json\n", want: logFormatJSON},
		{name: "cs file bad", daemon: "cs", file: "log-format: pretty\n"},
		{name: "cs flag beats file", daemon: "cs", file: "log-format: json\n", flags: []string{"--log-format", "text"}, want: logFormatText},
	}
	daemons := daemonsUnderTest()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := daemons[tc.daemon]
			dir := t.TempDir()
			args := append(d.args(dir, certsDir), tc.flags...)
			if tc.env != "" {
				t.Setenv("PORTCULLIS_LOG_FORMAT", tc.env)
			}
			if tc.file != "" {
				file := filepath.Join(dir, "config.yaml")
				if err := os.WriteFile(file, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", file)
			}
			out, err := runDaemonUntil(t, args, d.until)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "log-format") {
					t.Fatalf("%s with a bad log format: error %v, want one naming log-format", tc.daemon, err)
				}
				if out != "" {
					t.Fatalf("%s logged before refusing its log format:\n%s", tc.daemon, out)
				}
				return
			}
			if err != nil && strings.Contains(err.Error(), "log-format") {
				t.Fatalf("%s refused log format %s: %v", tc.daemon, tc.want, err)
			}
			checkLogLines(t, out, tc.want, d.until)
		})
	}
}

// runDaemonUntil runs the command line in process until its log holds until (or it ends by
// itself), then cancels it, and returns its log and its error.
func runDaemonUntil(t *testing.T, args []string, until string) (string, error) {
	t.Helper()
	var out syncbuf.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetErr(&out)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	deadline := time.After(daemonLogTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), until) {
		select {
		case err := <-done:
			return out.String(), err
		case <-deadline:
			cancel()
			t.Fatalf("%s did not log %q within %v:\n%s", args[0], until, daemonLogTimeout, out.String())
		case <-tick.C:
		}
	}
	cancel()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(daemonStopTimeout):
		t.Fatalf("%s did not end within %v of its cancellation", args[0], daemonStopTimeout)
		return "", nil
	}
}

// checkLogLines checks that every line of out is a record in format, and that one of them is the
// message until.
func checkLogLines(t *testing.T, out, format, until string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	lines, seen := 0, false
	for sc.Scan() {
		line := sc.Text()
		lines++
		switch format {
		case logFormatJSON:
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("line %d is not a JSON object: %v\n%s", lines, err, line)
			}
			for _, key := range []string{slog.TimeKey, slog.LevelKey, slog.MessageKey} {
				if _, ok := rec[key]; !ok {
					t.Errorf("line %d has no %q: %s", lines, key, line)
				}
			}
			seen = seen || rec[slog.MessageKey] == until
		case logFormatText:
			if !strings.HasPrefix(line, slog.TimeKey+"=") || !strings.Contains(line, " "+slog.LevelKey+"=") {
				t.Errorf("line %d is not a text record: %s", lines, line)
			}
			seen = seen || strings.Contains(line, slog.MessageKey+`="`+until+`"`)
		}
	}
	if lines == 0 || !seen {
		t.Fatalf("no %s record %q in the log:\n%s", format, until, out)
	}
}
