// Package session owns governed Managed Agents sessions: creating them on
// Anthropic through the official Go SDK, the budgets that bound them, the
// governance text injected into their system prompt, the per-session MCP
// token the agent presents to the gateway, their lifecycle and their
// expiry.
//
// Creating a session follows the setup guide's order: check the agent
// configuration against the tenant's policy; reserve a budget slot (one
// transaction under a per-tenant row lock, so N concurrent creates against
// a limit of L make exactly L sessions); render the governance prompt and
// its hash; create the Anthropic environment and agent (reused while the
// configuration does not change), a vault holding the session's MCP token
// as a static_bearer credential for the gateway's MCP URL, and the
// session; attach the Observer to the session's event stream; audit the
// creation with the prompt and its hash; send the first message. If an
// upstream step fails, what was made upstream is removed, the reservation
// is deleted, and the error names the step and Anthropic's request ID.
//
// Lifecycle: creating → active ⇄ awaiting_approval → completed, and
// interrupted, expired or failed, which are final. A completed session
// becomes active again when a message is sent to it. Expiry is a durable
// timer: expires_at is stored, and Run's sweeper interrupts live sessions
// past it, on whichever gateway runs it, after any restart.
//
// Status counters are never stored: they are counted from the session's
// audit records (sources mcp_governed and mcp_observed) and the approval
// queue, so they cannot drift from the trail. The counters a policy reads
// (input.session.calls, .denials) are different: Facts reserves each
// governed call in a stored counter before it is decided (CallCounter),
// so a budget holds across a batch, parallel requests and gateways.
//
// A session that ends (interrupted, expired, failed) or completes cancels
// its actions still waiting for a human through Actions (the approval
// queue); for an ended session this is part of the cleanup the sweeper
// retries. docs/SESSIONS.md has more.
//
// It imports the root package and the capability packages whose types it
// uses (agent, audit, approval, auth, cache, policy, vault, pii); stores implement
// Store (internal/sqlstore). It must not import adapters or cmd.
package session
