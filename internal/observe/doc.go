// Package observe owns the event consumer of Managed Agents sessions:
// one consumer per active session reads the session's event stream
// through the official SDK, stores every event once, audits each tool call
// (one mcp_observed record per use and its result), scores built-in tool
// calls with internal/anomaly and interrupts the session when its score
// crosses the profile's threshold, answers confirmation requests of
// governed built-in tools by policy (allow, deny, or a human through the
// approval queue), and drives the session's lifecycle from its status
// events. Calls to MCP servers other than Vargate's are observed and
// scored like built-in tools; a call to Vargate's own MCP server was
// governed there, so it is linked to that governed record
// (observe_tool_uses.linked_action) rather than recorded twice.
//
// Multi-agent sessions: every sub-agent thread is followed on its own
// stream and history, so a sub-agent's tool calls are audited too (see
// thread.go); tested against the simulator's sub-agent threads and a
// fake upstream that replays a thread's history on every reconnect.
//
// Reliability. The stream has no replay, so every connection opens the
// stream first, back-fills the history (GET …/events) from shortly before
// the stored cursor, then passes the live events on; the (session, event
// ID) key of the stored events drops what was seen before, so reconnects,
// back-fills and duplicated deliveries never double-count. The stream has
// no request timeout: a stream that ends, errs, or stays silent for
// SSETimeout (heartbeats count) is reconnected, at once when it had been
// up a while, else after a backoff doubling from ReconnectMin to
// ReconnectMax (250 ms to 5 s). A consumer keeps its upstream client across
// reconnects, so the tenant's key is released (and audited) once per
// consumer, again only after Anthropic refuses it. Events are judged and
// recorded each on its own: large inputs are kept as bounded excerpts and
// judged on a bounded window (bound.go), and an event that still cannot be
// recorded is dead-lettered (poison.go); the stream never stalls on one.
// Stats.Latency is the event-to-record latency. Each batch of events is
// stored in one transaction with the tool uses and progress it changed;
// audit records follow in the agent's order (audit.Log.AppendAll, group
// committed), and a tool use is marked audited only afterwards, so a crash
// in between is repaired on resume.
//
// Ownership. A session is consumed by the process holding its lease in the
// database; every write of consumer state is fenced on the lease. Processes
// renew their leases every third of LeaseTTL and claim sessions whose lease
// lapsed, so a survivor takes over a dead process's sessions, and a
// restarted gateway resumes the active sessions. Close releases leases.
//
// Interrupts. Service.Interrupt (POST /managed/sessions/{id}/interrupt) and
// the automatic interrupt send user.interrupt, mark the session
// interrupted through Lifecycle, audit who and why, and report the
// interrupt confirmed only when the stored stream shows the session idle
// after it (from any process), sending it again otherwise. The consumer of
// an interrupted session reads on until the interrupt's echo, even when
// the session went idle by itself first, so the trail holds it. A session
// nobody consumes any more is confirmed by the API's session status; the
// outcome record's confirmed_by says which ("stream", "session_status").
//
// Retention. The consumer's working state of an ended session (stored
// event identities, tool uses, its row) is deleted Retention after the
// consumer finished; the audit trail keeps everything it recorded.
//
// Dependencies are interfaces wired by cmd: Store (internal/sqlstore),
// Upstream and Lifecycle (internal/session), Auditor (internal/audit),
// Decider (internal/policy), Approvals (internal/approval), Emitter
// (internal/webhook). It imports the root package, the SDK and the domain
// packages agent, anomaly, approval, audit, pii, policy, session and vault
// (the purpose a tenant's Anthropic key is released for); it must not
// import adapters (sqlstore, httpapi, …) or cmd.
package observe
