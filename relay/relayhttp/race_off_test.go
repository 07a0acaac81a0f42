//go:build !race

package relayhttp

// raceEnabled: the race detector makes sync.Pool drop a share of what is put back, on purpose.
const raceEnabled = false
