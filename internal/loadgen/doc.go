// Package loadgen drives governed tool calls through a gateway's MCP
// endpoint and measures them: a log-linear latency Histogram, a Run of
// many concurrent MCP clients at a fixed concurrency (closed loop) or at a
// fixed rate (open loop, latency measured from each call's intended send
// time so that a stalled server cannot hide its stalls — coordinated
// omission corrected), the Fixture a run needs on a gateway (an agent
// configuration, an agent key, tenant tools; made through the admin API),
// and the comparison targets: a bare MCP server with the same tools and
// no governance, and OPA's own server for the sidecar design.
//
// It talks to the gateway only over HTTP, as an agent and an admin would,
// and imports nothing of the gateway but the root package and policy (for
// the base policy the OPA sidecar serves). `vargate bench` and the soak
// test use it.
package loadgen
