// Package approval owns the human-approval queue: a tool call that policy
// sends to a human is queued here as an Action bound to the exact call
// (session, agent, tool, arguments and their digest, policy version and
// decision ID), and runs exactly once if a human approves it, never if not.
//
// States move only forward:
//
//	pending → approved → executing → executed | failed
//	pending → rejected | expired
//	pending | approved → cancelled
//
// An action is cancelled (Cancel) when what it needed goes away before it
// starts: its session ended (interrupted, expired, completed, failed), its
// agent was archived or no longer allows its tool, or the key that queued
// it was revoked. internal/session, internal/agent and internal/auth call
// the Service's SessionEnded, AgentArchived, ToolsWithdrawn and KeyRevoked;
// an action already executing is left to finish.
//
// Every move is one conditional update in the store (compare-and-set on
// the status), so of concurrent deciders exactly one wins and the others
// get a conflict. An approved action is marked executing — with a lease —
// before the Executor is called; an action found executing after its
// lease ran out (the gateway died mid-call) is marked failed with the
// outcome unknown, never run again.
//
// Each move also writes an event row. The event is the outbox of the
// move's side effects — an audit record (source approval), a webhook, and
// for settled actions of a session a message through SessionNotifier — so
// that a crash between the commit and a side effect is repaired by the
// sweeper rather than lost.
//
// When two parties run approved actions, a Router sends each action to
// the one that owns it: internal/observe owns the escalated confirmations
// of built-in tool calls, the governor runs every other action. A
// session's status counts its unsettled actions through PendingActions.
//
// It imports the root package and internal/audit (for the record type).
// The Executor (internal/govern), SessionNotifier (internal/session),
// Emitter (internal/webhook) and Sealer (internal/vault) are interfaces
// wired in by cmd; it must not import those packages or any adapter.
package approval
