//go:build unix

package main

import "syscall"

// hang stops process pid (SIGSTOP): the kernel still accepts connections to its listeners, so
// it looks alive to a dialer but never answers.
func hang(pid int) error { return syscall.Kill(pid, syscall.SIGSTOP) }

// unhang lets a process stopped by hang go on.
func unhang(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
