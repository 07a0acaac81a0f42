package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPollableMakesAPipeNonBlockingAndLargeAndStillCarriesEveryByte(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, w := pollable(p[0], "r"), pollable(p[1], "w")
	if r == nil || w == nil {
		t.Fatal("a pipe could not be made pollable")
	}
	defer r.Close()
	for _, fd := range p {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || flags&unix.O_NONBLOCK == 0 {
			t.Errorf("fd %d: flags %#x, %v; want O_NONBLOCK", fd, flags, err)
		}
		if size, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0); err != nil || size < sftpPipeSize {
			t.Errorf("fd %d: pipe size %d, %v; want at least %d", fd, size, err, sftpPipeSize)
		}
	}
	want := make([]byte, 3*sftpPipeSize+12345) // more than the pipe holds: the writer must wait
	_, _ = rand.Read(want)
	go func() {
		_, _ = w.Write(want)
		_ = w.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d of %d bytes (equal %v), %v", len(got), len(want), bytes.Equal(got, want), err)
	}
}
