// Package vargate holds the vocabulary every other package shares: the
// Principal acting on a request, the closed set of error kinds, roles, and
// the context helpers that carry request-scoped facts, and a few helpers
// every package needs (list page sizes, defaults, periodic tasks). It
// imports nothing else from this module.
package vargate

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Version is the build version, set at link time with
// -ldflags "-X github.com/vargate/vargate.Version=…".
var Version = "dev"

// Role is what an API key may do inside its tenant.
type Role string

// The roles. Admin can do everything in its tenant; approver reads and
// decides approvals; auditor only reads; agent may only call MCP tools.
const (
	RoleAdmin    Role = "admin"
	RoleApprover Role = "approver"
	RoleAuditor  Role = "auditor"
	RoleAgent    Role = "agent"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleApprover, RoleAuditor, RoleAgent:
		return true
	}
	return false
}

// Human reports whether r belongs to a person (not an agent). Only human
// roles may read the control plane.
func (r Role) Human() bool { return r == RoleAdmin || r == RoleApprover || r == RoleAuditor }

// CanDecide reports whether r may approve or reject a queued action.
func (r Role) CanDecide() bool { return r == RoleAdmin || r == RoleApprover }

// CanWrite reports whether r may change configuration.
func (r Role) CanWrite() bool { return r == RoleAdmin }

// Principal is who is acting on a request. It is established once, by the
// authentication middleware, from the credential alone — never from a
// request body or tool argument.
type Principal struct {
	TenantID string `json:"tenant_id"`
	Role     Role   `json:"role"`
	// KeyID identifies the API key or session token used.
	KeyID string `json:"key_id"`
	// KeyName is the API key's name (its label), for audit records.
	KeyName string `json:"key_name,omitempty"`
	// AgentID is set for agent keys and session tokens: the agent
	// configuration whose rules govern the caller.
	AgentID string `json:"agent_id,omitempty"`
	// SessionID is set when the caller authenticated with a per-session
	// MCP token.
	SessionID string `json:"session_id,omitempty"`
}

// Clock returns the current time. Components take one so tests can move time.
type Clock func() time.Time

// NewID returns prefix followed by n random bytes in lower-case hex.
func NewID(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vargate: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return prefix + hex.EncodeToString(b)
}
