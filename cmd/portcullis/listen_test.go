package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listenHelperEnv makes TestListenHelperProcess the child of TestListenOnAnInheritedSocket.
const listenHelperEnv = "PORTCULLIS_TEST_LISTEN_HELPER"

// TestListenHelperProcess is not a test: run by TestListenOnAnInheritedSocket, it listens on the
// socket it inherited as file descriptor 3, answers one connection with its process id and exits.
func TestListenHelperProcess(t *testing.T) {
	if os.Getenv(listenHelperEnv) == "" {
		t.Skip("the child of TestListenOnAnInheritedSocket")
	}
	ln, err := listen("fd:3")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	conn, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintf(conn, "%d\n", os.Getpid())
	conn.Close()
	os.Exit(0)
}

func TestListenOnAnInheritedSocket(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Go cannot listen on an inherited socket on Windows")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestListenHelperProcess$")
	cmd.Env = append(os.Environ(), listenHelperEnv+"=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	f.Close()
	ln.Close() // the child's copy is the only one left
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if want := fmt.Sprintf("%d\n", cmd.Process.Pid); line != want {
		t.Fatalf("%s answered %q, want the child's pid %q", addr, line, want)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestListenRefusesABadDescriptor(t *testing.T) {
	for _, addr := range []string{"fd:", "fd:x", "fd:-3", "fd:1", "fd:2"} {
		if _, err := listen(addr); err == nil || !strings.Contains(err.Error(), "fd:N") {
			t.Errorf("listen(%q) = %v, want an error naming the fd:N form", addr, err)
		}
	}
}
