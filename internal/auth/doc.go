// Package auth owns tenants, API keys and the authentication of bearer
// credentials. A key is 256 random bits with a recognisable prefix, shown
// once and stored only as its SHA-256 hash. Authenticate turns a presented
// credential into a vargate.Principal; there is no anonymous principal and
// no default tenant.
//
// Every tenant and key change and every dashboard sign-in and sign-out is
// an audit record (audit.ControlPlane) with its actor's key ID and name.
//
// It imports the root package and audit (the record formats). Stores
// implement Store (internal/sqlstore).
package auth
