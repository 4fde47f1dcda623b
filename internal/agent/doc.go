// Package agent owns agent configurations: the setup guide's governance
// profile of a managed agent (model, system prompt, governed tools, tools
// that need a human, session budgets, delegation depth, risk level, PII
// handling, network access, built-in tools the gateway confirms itself).
//
// A configuration is versioned. Create makes version 1; Update makes the
// next version from the current one, so a session pins the version it
// started with and keeps it while the configuration moves on; Archive
// stops new sessions. Every change is recorded in the tenant's audit trail
// as a control_plane record carrying the whole new version.
//
// Sub-agents name a parent configuration of the same tenant. An agent's
// delegation depth is its distance from the root of that chain, and every
// ancestor's max_delegation_depth bounds how far below it a descendant may
// sit.
//
// It imports the root package and internal/audit (for the record type);
// stores implement Store (internal/sqlstore). It must not import adapters,
// internal/session or cmd.
package agent
