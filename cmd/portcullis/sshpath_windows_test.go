package main

import "testing"

func TestSSHConfigPathWindows(t *testing.T) {
	tests := []struct{ in, want string }{
		{`C:\Users\ann\bin\portcullis.exe`, `C:/Users/ann/bin/portcullis.exe`},
		{`C:\Users\Ann Lee\AppData\Roaming\portcullis`, `C:/Users/Ann Lee/AppData/Roaming/portcullis`},
	}
	for _, tt := range tests {
		if got := sshConfigPath(tt.in); got != tt.want {
			t.Errorf("sshConfigPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := quote(sshConfigPath(tt.in)); got == tt.want && tt.in != tt.want && containsSpace(tt.want) {
			t.Errorf("quote(%q) left a path with a space unquoted", tt.want)
		}
	}
}

func containsSpace(s string) bool {
	for _, r := range s {
		if r == ' ' {
			return true
		}
	}
	return false
}
