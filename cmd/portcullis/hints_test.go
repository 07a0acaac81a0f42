package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/access"
	"github.com/portcullis/portcullis/api"
	"github.com/portcullis/portcullis/certs"
	"golang.org/x/crypto/ssh"
)

func TestCheckCMURLSaysWhatToGive(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://cm.example.com", ""},
		{"https://127.0.0.1:8443/", ""},
		{"cm.example.com", "--cm https://cm.example.com"},
		{"cm.example.com:8443", "--cm https://cm.example.com:8443"},
		{"http://cm.example.com", "answers only HTTPS; use --cm https://cm.example.com"},
		{"ftp://cm.example.com", "give one like https://"},
		{"https://", "give one like https://"},
	}
	for _, tt := range tests {
		err := checkCMURL("cm", tt.raw)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("checkCMURL(%q) = %v, want %q", tt.raw, err, tt.want)
		}
	}
}

func TestAnUntrustedCANamesCAFile(t *testing.T) {
	err := withHint(fmt.Errorf("ask the CM: %w", x509.UnknownAuthorityError{}))
	if !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("hint = %v, want --ca-file named", err)
	}
	unknownKey := &api.StatusError{Status: 401, Body: api.Error{Code: access.ErrUnauthenticated, Reason: access.ErrBadSignature}}
	if err := withHint(fmt.Errorf("connect: %w", unknownKey)); !strings.Contains(err.Error(), "sign in again with 'portcullis login'") {
		t.Errorf("a sign-in the CM refuses: %v; want 'sign in again'", err)
	}
	if plain := fmt.Errorf("other"); withHint(plain) != plain {
		t.Error("another error got a hint")
	}
}

func TestDescribeAlgorithmsNamesWhatWasNegotiated(t *testing.T) {
	gcm := ssh.DirectionAlgorithms{Cipher: ssh.CipherAES256GCM}
	ctr := ssh.DirectionAlgorithms{Cipher: ssh.CipherAES256CTR, MAC: ssh.HMACSHA256ETM}
	tests := []struct {
		a    ssh.NegotiatedAlgorithms
		want string
	}{
		{ssh.NegotiatedAlgorithms{KeyExchange: ssh.KeyExchangeMLKEM768X25519, HostKey: ssh.KeyAlgoED25519, Read: gcm, Write: gcm},
			"key exchange mlkem768x25519-sha256, host key ssh-ed25519, cipher aes256-gcm@openssh.com"},
		{ssh.NegotiatedAlgorithms{KeyExchange: ssh.KeyExchangeDH16SHA512, HostKey: ssh.KeyAlgoED25519, Read: ctr, Write: gcm},
			"to the Host cipher aes256-gcm@openssh.com, from the Host cipher aes256-ctr with MAC hmac-sha2-256-etm@openssh.com"},
	}
	for _, tt := range tests {
		if got := describeAlgorithms(tt.a); !strings.Contains(got, tt.want) {
			t.Errorf("describeAlgorithms = %q, want %q in it", got, tt.want)
		}
	}
}

func TestFirstRunMistakesNameTheFix(t *testing.T) {
	dir := t.TempDir()
	certsDir := filepath.Join(dir, "certs")
	db := filepath.Join(dir, "cm.db")
	_, err := portcullis(t, "cm", "--dev-idp", "--certs-dir", certsDir, "--store", "sqlite:"+db, "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "portcullis certs init --dir "+certsDir) {
		t.Errorf("cm without certificates: %v; want it to name 'portcullis certs init'", err)
	}
	if _, statErr := os.Stat(db); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("cm without certificates created its database first (%v)", statErr)
	}
	if _, err := portcullis(t, "certs", "init", "--dir", certsDir, "--algorithm", "p384"); err != nil {
		t.Fatal(err)
	}
	_, err = portcullis(t, "certs", "init", "--dir", certsDir, "--algorithm", "p384")
	if !errors.Is(err, certs.ErrExists) || !strings.Contains(err.Error(), "--force") || strings.Contains(err.Error(), "Force to") {
		t.Errorf("certs init twice: %v; want it to name --force", err)
	}
	for _, args := range [][]string{{"status", "--cm", "cm.example.com"}, {"status", "--cm", "http://cm.example.com"}} {
		if _, err := portcullis(t, append(args, "--config-dir", dir)...); err == nil || !strings.Contains(err.Error(), "--cm https://cm.example.com") {
			t.Errorf("%v: %v; want it to say --cm https://cm.example.com", args, err)
		}
	}
}
