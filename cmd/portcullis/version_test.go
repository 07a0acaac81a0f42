package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionCommands(t *testing.T) {
	tests := []struct {
		name string
		args []string
		json bool
	}{
		{"version", []string{"version"}, false},
		{"--version", []string{"--version"}, false},
		{"version --json", []string{"version", "--json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(tt.args)
			if err := root.Execute(); err != nil {
				t.Fatalf("%v: %v", tt.args, err)
			}
			if !tt.json {
				line := out.String()
				if !strings.HasPrefix(line, "portcullis ") || !strings.Contains(line, runtime.Version()) || !strings.HasSuffix(line, ")\n") {
					t.Fatalf("%v printed %q", tt.args, line)
				}
				return
			}
			var got struct {
				Version   string `json:"version"`
				GoVersion string `json:"go_version"`
				Platform  string `json:"platform"`
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("version --json printed %q: %v", out.String(), err)
			}
			if got.Version == "" || got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Fatalf("version --json = %+v", got)
			}
		})
	}
}
