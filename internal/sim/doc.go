// Package sim is a local stand-in for Anthropic's Managed Agents API
// (beta managed-agents-2026-04-01): agents, environments, vaults and
// credentials, sessions, session events and the SSE event stream, the
// threads of multi-agent sessions (list, get, archive, a thread's events
// and stream), with the
// real paths, field names, ID prefixes, pagination, headers and error bodies,
// so that the official Go SDK pointed at it (option.WithBaseURL) cannot tell
// the difference. It is as strict as the SDK's types: request bodies are
// checked against the SDK's parameter types (validate.go, enums_gen.go) and
// answers are complete per its response types; docs/SIMULATOR.md lists what
// is simulated, validated and not.
//
// A session is driven by a scripted agent: a Scenario is a list of steps
// (say a message, use a built-in tool with a canned result, call a tool on
// one of the agent's MCP servers for real over Streamable HTTP with the
// vault's static_bearer token, hand steps to a sub-agent thread, wait,
// end the turn) plus faults (session
// errors, rescheduling, dropped streams, duplicated events, slow steps).
// Permission policies, tool confirmations and interrupts follow the
// documented semantics; see ScenarioHelp.
//
// Everything is kept in memory and owned by one Server value; there is no
// package state. The package imports only the root vargate package from this
// module and must not import any other Vargate package: it stands for the
// outside world, and the gateway's tests use it as such.
package sim
