package main

import "path/filepath"

// sshConfigPath is path as written into an ssh_config file for Windows' OpenSSH: with forward
// slashes (C:/Users/ann/portcullis.exe), which Windows accepts and ssh_config's tokenizer never
// reads as escapes, as it may a backslash before a quote or a space.
func sshConfigPath(path string) string { return filepath.ToSlash(path) }
