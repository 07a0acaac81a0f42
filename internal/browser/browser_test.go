package browser

import (
	"context"
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		address string
		ok      bool
	}{
		{"https://idp.example.com/authorize?client_id=portcullis&state=x", true},
		{"http://127.0.0.1:8443/idp/authorize", true},
		// What a hostile CM or IdP could hand the opener instead of a sign-in page.
		{"file:///etc/passwd", false},
		{`C:\Windows\System32\calc.exe`, false},
		{"calc.exe", false},
		{"javascript:alert(1)", false},
		{"https:opaque", false},
		{"https://", false},
		{"-a Terminal https://x", false},
		{"https://idp.example.com/a b", false},
		{"https://idp.example.com/\n--flag", false},
		{"smb://fileserver/share/evil.exe", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := Check(tt.address)
			if tt.ok && err != nil {
				t.Fatalf("Check(%q) = %v, want nil", tt.address, err)
			}
			if !tt.ok && !errors.Is(err, ErrNotWebAddress) {
				t.Fatalf("Check(%q) = %v, want ErrNotWebAddress", tt.address, err)
			}
		})
	}
}

func TestOpenRefusesBeforeRunningAnything(t *testing.T) {
	// An empty PATH: were the opener started, Open would fail with "executable file not found"
	// instead of ErrNotWebAddress.
	t.Setenv("PATH", "")
	if err := Open(context.Background(), "file:///etc/passwd"); !errors.Is(err, ErrNotWebAddress) {
		t.Fatalf("Open(file:) = %v, want ErrNotWebAddress", err)
	}
}
