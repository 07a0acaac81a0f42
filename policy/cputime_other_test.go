//go:build !unix

package policy

import "time"

// processCPU is 0 where getrusage is unavailable: benchmarks report no CPU time then.
func processCPU() time.Duration { return 0 }
