// Package web is the dashboard: server-rendered HTML pages under /ui/ for
// the people who govern agents — approvers deciding queued tool calls,
// auditors checking the trail, admins configuring agents, policies,
// webhooks, credentials and API keys.
//
// Templates and static files are embedded (embed.FS), so the binary serves
// the dashboard with no build step or Node toolchain. Pages work without
// JavaScript; a small script (static/app.js, no inline scripts: the
// Content-Security-Policy forbids them) polls HTML fragments to keep the
// approval queue and a session's timeline live.
//
// Sign-in takes a human API key (admin, approver or auditor; agent keys
// and session tokens are refused) and starts a server-side session, kept
// in a SigninStore (the database's in the gateway, so gateways behind one
// load balancer share it; in memory by default): the store holds hashes of
// the cookie and the key, the cookie only a random session ID (HttpOnly,
// SameSite=Strict, Secure over TLS or behind a trusted proxy that says
// https), the key itself is never stored, and the key is re-checked on
// every request, so revoking it ends its sessions. Sessions expire after
// IdleTimeout without a request and after MaxSessionAge in any case. Every
// state-changing request is a POST carrying the session's CSRF token, and
// the role is checked on the server for every action: auditors read,
// approvers also decide approvals and interrupt sessions (as the REST API
// lets them), admins do everything.
//
// The pages call the capability services directly through the small
// interfaces declared in services.go, never the REST API. It imports the
// root package and the capability packages whose types it shows (agent,
// approval, audit, auth, compliance, netguard, pii, policy, session,
// upstream, vault, webhook) or uses (cache); it must not import other
// adapters (httpapi, mcpserver, sqlstore) or cmd.
package web
