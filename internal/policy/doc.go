// Package policy decides whether a governed tool call is allowed, denied or
// needs human approval.
//
// It owns the input document (Input) that every decision is made from, the
// decision value (Decision), the built-in base policy (Rego, embedded), the
// validation of tenant policy versions (Compile, Test) and the Engine that
// evaluates them with embedded OPA: queries are prepared once per version,
// each tenant's active version is swapped atomically, and every evaluation
// runs under a timeout. Evaluation fails closed: an error or a timeout is a
// deny, never an allow.
//
// The Store interface lists what the package needs from persistence; the
// SQL implementations live in the store adapters. Docs: docs/POLICY.md.
//
// It imports the root package, internal/pii and internal/audit (the record
// of a policy change); it must not import the store adapters, httpapi,
// mcpserver or cmd.
package policy
