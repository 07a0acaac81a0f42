// Package e2e holds the end-to-end tests: they build the real portcullis binary and run the
// CM, Connection Servers and Hosts as separate processes on loopback, then act as users do.
package e2e
