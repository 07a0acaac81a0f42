// Package repocheck holds the tests that keep the repository's own files honest: every link and
// every named Markdown file in the documentation resolves inside the repository, and `make test`
// runs every stage and reports each one that failed. It has no code of its own.
package repocheck
