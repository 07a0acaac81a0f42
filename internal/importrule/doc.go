// Package importrule holds the test of Portcullis's one-way import rule (docs/architecture.md
// draws it): the vocabulary at the floor imports nothing of ours, the libraries import
// only the floor, each role imports only the libraries it needs and never another role, and
// only the binary, the local stack (localstack), the bench and the tests sit on top. It has no
// code of its own.
package importrule
