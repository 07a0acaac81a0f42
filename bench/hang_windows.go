package main

import "errors"

// hang is built on Unix only: the failover section stops a relay with SIGSTOP.
func hang(int) error { return errors.New("bench: stopping a process is built on Unix only") }

func unhang(int) error { return nil }
