// Package govern owns the per-call pipeline of a governed tool call:
// identity (the principal the transport authenticated) → the agent
// configuration that governs it → argument schema validation → PII scan →
// policy decision → deny, queue for approval, or execute the connector
// with the brokered credential → one mcp_governed audit record, committed
// before the answer goes back.
//
// It is transport-free: internal/mcpserver adapts it to MCP. It also
// implements approval.Executor (ExecuteApproved) for actions a human
// approved, and the vargate_approval_status tool.
//
// It imports the root package and the capability packages whose types it
// uses (agent, approval, audit, cache, policy, pii, tools); it must not import
// adapters or cmd. What it needs from other capabilities it names as small
// interfaces (Configs, Decider, Queue, Auditor, Emitter, Facts), wired in
// cmd.
package govern
