// Package mcpserver serves the governed tools over MCP Streamable HTTP
// with the official Go SDK (github.com/modelcontextprotocol/go-sdk), in
// stateless mode, so that 2026-07-28 clients and 2025-era clients
// (initialize handshake) are served by the same handler.
//
// Every request passes, in order: the IP allowlist (the real client
// address, X-Forwarded-For believed only from trusted proxies), the Origin
// check, bearer authentication (a session token or an agent key; human
// keys get 403), one read of the body (body.go), and then the SDK, whose
// tool handlers hand each call to govern.Governor — except a plain
// single tools/call, which the fast path (fast.go) hands to the governor
// itself and answers as the SDK would. tools/list shows only what the
// caller's agent configuration allows.
//
// Each tenant gets its own *mcp.Server (built-ins plus its own tools),
// built once and rebuilt only when the tenant's tool set changes.
//
// It imports the root package, internal/govern, internal/tools,
// internal/netguard and internal/cache; it must not import the store
// adapters, httpapi or cmd.
package mcpserver
