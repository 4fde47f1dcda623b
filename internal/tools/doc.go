// Package tools owns the governed tool catalog: the built-in tools
// (vargate_web_search, vargate_send_email, vargate_read_database,
// vargate_http_request, vargate_approval_status), the tools a tenant declares
// over the API (HTTP calls described by a request template), their input
// schemas, and the connectors that carry a call out with a brokered
// credential.
//
// A connector only executes: deciding whether a call may run is the job of
// internal/govern, which validates the arguments against Tool.Schema, asks
// the policy and only then calls Connector.Call. Connectors get credentials
// through the Credentials interface (the vault), and every connection they
// open to a target chosen by a tenant or an agent goes through a
// netguard.Guard.
//
// It imports the root package, internal/vault (for the Secret type),
// internal/audit (records of tool definition changes), internal/netguard
// and internal/cache; it must not import adapters, govern, mcpserver or cmd.
// Stores implement Store (internal/sqlstore).
package tools
