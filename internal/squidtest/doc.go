// Package squidtest starts real HTTP proxies for tests of the relay's HTTP fallback, squid and
// tinyproxy, each with its own configuration in a temporary directory, a free port, access for
// localhost only, CONNECT denied and default (info) logging, so that only plain HTTP requests
// pass, as through a strict corporate proxy. scripts/test-deps.sh and scripts/bench-deps.sh
// install both.
//
// Go's clients never send a request for a loopback address ("localhost", 127.0.0.0/8, ::1)
// through the proxy that HTTP_PROXY names, so a relay on loopback is named by Alias, which only
// these proxies resolve to it: squid through its own hosts file, tinyproxy through an Upstream
// rule that forwards requests for the alias to the relay's HTTP port (tinyproxy resolves names
// with the system resolver, which a test cannot change).
//
// It owns each proxy's lifetime in a test (Start, StartTinyproxy) or in make bench (Run,
// RunTinyproxy); it never touches a system proxy or its files.
package squidtest
