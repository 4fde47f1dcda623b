// Package netguard decides which network addresses the gateway talks to and
// believes: the real client address of a request behind trusted reverse
// proxies (ClientAddr), address allowlists (Allowlist), and an SSRF-safe
// dialer and HTTP client for connections the gateway opens on a tenant's or
// an agent's behalf (Guard).
//
// The SSRF guard checks the address actually dialled, after DNS resolution,
// so a name that resolves to a private address, a DNS rebinding, or a
// redirect to an internal host is refused at connect time, whatever the URL
// said.
//
// It imports only the standard library; it must not import the root
// package's siblings, adapters or cmd.
package netguard
