// Package squidtest starts a real squid HTTP proxy for tests of the relay's HTTP fallback: its
// own configuration in a temporary directory, a free port, access for localhost only, CONNECT
// denied and the Upgrade header stripped, so that only plain HTTP requests pass, as through a
// strict corporate proxy. scripts/test-deps.sh installs squid.
//
// It owns the proxy's lifetime in a test (Start) or in make bench (Run); it never touches a
// system squid or its files.
package squidtest
