// Package policy embeds Open Policy Agent to decide every Portcullis request: it compiles the
// Rego modules once (New), evaluates the prepared query per request (Engine.Decide), turns the
// result into a Decision with human reasons and Obligations, and runs a policy's Rego tests
// with coverage (Test).
//
// Decisions fail closed: an evaluation error, an undefined result or a malformed one always
// yields a refusal. The package must never perform I/O on the request path, never allow a
// request the policy did not explicitly allow, and never hold state shared between engines.
package policy
