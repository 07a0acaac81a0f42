// Package e2e holds the end-to-end tests: they build the real portcullis binary and run the
// CM, Connection Servers and Hosts as separate processes on loopback (package localstack), then
// act as users do, through the CLI and the API. Beside the system they run a TLS-terminating
// tap in front of one relay, which records exactly the bytes the relay splices, and a squid
// proxy (internal/squidtest) that passes only plain HTTP.
package e2e
