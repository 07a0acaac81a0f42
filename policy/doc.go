// Package policy embeds Open Policy Agent to decide every Portcullis request: it compiles the
// Rego modules once (New), evaluates the prepared queries per request — connections with
// Engine.Decide (data.portcullis.authz), the Connection Manager's admin and auditor API with
// Engine.DecideAPI (data.portcullis.api, the embedded default when a policy has none) — turns
// the result into a Decision with human reasons and Obligations, and runs a policy's Rego tests
// with coverage (Test).
//
// It also owns the policy's life around those decisions: a Manager serves the last good policy
// from a directory, a signed OPA bundle (ReadBundle, WriteBundle) or, by default, the embedded
// policy of package rego, and rolls out a changed one only when it parses, compiles
// type-checked against its input schema (WithDefaultSchema), has tests and passes them
// (ManagerConfig.AllowUntested lets an untested one serve, and Status shows it);
// Engine.Mask applies the policy's data.system.log.mask to a decision-log record, as OPA
// does; Impact replays recorded connection and API decisions against a candidate policy.
//
// Decisions fail closed: an evaluation error, an undefined result or a malformed one always
// yields a refusal. The package must never perform I/O on the request path (a Manager reads
// files only when it reloads), never allow a request the policy did not explicitly allow, never
// serve a policy whose tests failed, that has none unless allowed, that was compiled without
// the input type check or whose bundle signature did not verify, and never hold state shared
// between engines.
package policy
