package host

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
)

// echoTarget listens on loopback and answers each connection with "echo:" and what it read.
func echoTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			data, _ := io.ReadAll(conn)
			_, _ = conn.Write(append([]byte("echo:"), data...))
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

func TestForwardReachesOnlyAllowedTargets(t *testing.T) {
	target := echoTarget(t)
	_, port, err := net.SplitHostPort(target)
	if err != nil {
		t.Fatal(err)
	}
	otherPort := strconv.Itoa(mustAtoi(t, port) + 1)
	tests := []struct {
		name    string
		allowed []string
		dial    string
		wantOK  bool
	}{
		{"exact target", []string{target}, target, true},
		{"any host on the port", []string{"*:" + port}, target, true},
		{"other port", []string{target}, net.JoinHostPort("127.0.0.1", otherPort), false},
		{"other host", []string{"db.internal:" + port}, target, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.Obligations.ForwardTargets = tt.allowed
			client := connected(t, f)
			conn, err := client.Dial("tcp", tt.dial)
			if !tt.wantOK {
				if err == nil || !strings.Contains(err.Error(), "not allowed by the session's obligations") {
					t.Fatalf("Dial = %v, want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, "ping"); err != nil {
				t.Fatal(err)
			}
			if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn)
			if err != nil || string(got) != "echo:ping" {
				t.Fatalf("read %q, %v; want echo:ping", got, err)
			}
		})
	}
}

// mustAtoi parses a decimal port.
func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
