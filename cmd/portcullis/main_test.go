package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for portcullis when a test's Host runs it as its SFTP
// server (as sftpCommand names it: the binary, then sftp-server), and runs the tests otherwise.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sftpServerCmd {
		os.Exit(run())
	}
	os.Exit(m.Run())
}
