package main

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
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
	if plain := fmt.Errorf("other"); withHint(plain) != plain {
		t.Error("another error got a hint")
	}
}
