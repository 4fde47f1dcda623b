// Package httpapi is the gateway's REST API: the route table (routes.go,
// every route in one function), authentication and role checks, the one
// error shape (its status from the root package's kind→status table,
// vargate.HTTPStatus, which the dashboard shares), request IDs, body
// limits and metrics.
//
// Handlers translate HTTP to calls on the capability packages and back; they
// hold no business rules. It imports the root package and the capability
// packages agent, approval, audit, auth, compliance, observe, policy,
// session, tools, upstream, vault and webhook, never other adapters
// (sqlstore, mcpserver, web) or cmd.
package httpapi
