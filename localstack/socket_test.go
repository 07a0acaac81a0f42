package localstack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childEnv names the environment variable that makes the test binary the child of
// TestAChildServesOnTheSocketTheStackHandsDown: it serves one connection on the inherited
// socket its value names ("fd:N") and exits.
const childEnv = "LOCALSTACK_TEST_CHILD_LISTEN"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(serveOnce(addr))
	}
	os.Exit(m.Run())
}

// serveOnce answers one connection on the inherited socket addr with this process's id.
func serveOnce(addr string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(addr, "fd:"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ln, err := net.FileListener(os.NewFile(uintptr(n), addr))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	conn, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%d\n", os.Getpid())
	return 0
}

// TestAChildServesOnTheSocketTheStackHandsDown: the port is bound before the child starts and
// the child serves on it, so no other process can take it in between.
func TestAChildServesOnTheSocketTheStackHandsDown(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows cannot hand a listening socket down")
	}
	sock, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	l := &launch{name: "child"}
	if err := l.listenOn("--listen", sock); err != nil {
		t.Fatal(err)
	}
	if got := l.args; len(got) != 2 || got[0] != "--listen" || got[1] != "fd:3" {
		t.Fatalf("args %q, want [--listen fd:3]", got)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+l.args[1])
	cmd.ExtraFiles = l.files
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range l.files {
		f.Close()
	}
	sock.close() // the child holds the socket now
	conn, err := net.DialTimeout("tcp", sock.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d\n", cmd.Process.Pid); line != want {
		t.Fatalf("the server at %s answered %q, want the child's pid %q", sock.addr, line, want)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestPrefixWriterStartsEveryLineWithTheName(t *testing.T) {
	var out strings.Builder
	w := prefixWriter(&out, "cs-1")
	for _, chunk := range []string{"one\ntw", "o\n", "", "three\nfour\n"} {
		if _, err := io.WriteString(w, chunk); err != nil {
			t.Fatal(err)
		}
	}
	want := "cs-1    | one\ncs-1    | two\ncs-1    | three\ncs-1    | four\n"
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}
