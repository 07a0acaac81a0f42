package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/pflag"
)

// How a session command's Go runtime runs. A session is one pipeline: x/crypto/ssh reads and
// decrypts each packet on one goroutine, hands it to another that routes it to its channel,
// and a third copies it out. With more than one P each hand-over may wake another thread (a
// futex wake and a context switch per packet); with one, the goroutines take turns on one
// thread, which has CPU to spare (a session's Guest spends about 2.5 ms per MB relayed). And
// every SSH packet the Guest receives is a fresh allocation while its live heap is small, so
// a high garbage collection target spends less on collections. make bench's throughput
// section: about 15 % less Guest CPU per MB from each of the two.
const (
	// guestGCPercent is a session command's default garbage collection target.
	guestGCPercent = 400
	// guestMaxProcs is a session command's default GOMAXPROCS.
	guestMaxProcs = 1
)

// addSessionRuntimeFlags adds --gc-percent and --gomaxprocs to a command that opens a session.
func addSessionRuntimeFlags(f *pflag.FlagSet) {
	addGCPercentFlag(f, guestGCPercent, "a session's live heap is small and every SSH packet it receives is a fresh allocation, so a high target spends less CPU on collections")
	f.Int("gomaxprocs", guestMaxProcs, "threads running the session's Go code at once (as GOMAXPROCS): one hands each packet between the session's goroutines without waking another thread (0 keeps the GOMAXPROCS environment variable or Go's default)")
}

// sessionRuntime is how a process serving one session runs Go: a Guest session command, or the
// sftp-server the Host agent starts for a session (with the defaults).
type sessionRuntime struct {
	GCPercent int `mapstructure:"gc-percent"`
	MaxProcs  int `mapstructure:"gomaxprocs"`
}

// defaultSessionRuntime is a session process's runtime when no flag sets it.
func defaultSessionRuntime() sessionRuntime {
	return sessionRuntime{GCPercent: guestGCPercent, MaxProcs: guestMaxProcs}
}

// applyRuntime sets the session's garbage collection target and GOMAXPROCS.
func (g sessionRuntime) applyRuntime() error {
	if err := checkGCPercent(g.GCPercent); err != nil {
		return err
	}
	if g.MaxProcs < 0 {
		return fmt.Errorf("gomaxprocs %d: want a positive number of threads, or 0 for the GOMAXPROCS environment variable", g.MaxProcs)
	}
	applyGCPercent(g.GCPercent)
	if g.MaxProcs > 0 {
		runtime.GOMAXPROCS(g.MaxProcs)
	}
	return nil
}
