// Package upstream puts a tenant's own MCP servers ("upstreams") behind the
// gateway: it keeps their configuration (a Streamable HTTP URL, or a stdio
// command the gateway runs when the deployment allows it, the vault
// credential that authenticates to it, timeouts), one pooled client
// session per upstream (the official go-sdk client), and the pinned
// definition of every tool an admin approved.
//
// Its tools join the tenant's tool catalog as a tools.Source, named
// "<upstream>__<tool>", so that every call goes through the same governed
// pipeline as Vargate's own tools (internal/govern). A tool whose live
// definition no longer matches its pin — or that was never approved — is
// withheld from agents until an admin reviews the change and approves it.
//
// It imports the root package, internal/tools, internal/audit,
// internal/vault, internal/netguard and internal/policy (the canonical
// digest); it must not import adapters, govern, mcpserver or cmd. Stores
// implement Store (internal/sqlstore). docs/MCP.md describes the API.
package upstream
