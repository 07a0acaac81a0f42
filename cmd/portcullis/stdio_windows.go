package main

import "os"

// pollableStdio returns standard input and output as they are: Windows has no non-blocking
// pipes for Go's poller to wait on.
func pollableStdio() (*os.File, *os.File) { return os.Stdin, os.Stdout }
