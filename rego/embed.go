package rego

import (
	"embed"
	"io/fs"
)

//go:embed *.rego *.json
var files embed.FS

// Files returns the default policy modules, their _test.rego tests and input.schema.json.
func Files() fs.FS {
	return files
}
