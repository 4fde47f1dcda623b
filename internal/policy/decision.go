package policy

// The three outcomes of a decision.
const (
	Allow           = "allow"
	Deny            = "deny"
	RequireApproval = "require_approval"
)

// Decision is the outcome of evaluating one tool call. A deny is a value,
// not an error.
type Decision struct {
	// Decision is Allow, Deny or RequireApproval.
	Decision string `json:"decision"`
	// Reasons explain a deny (the deny reasons only) or a required
	// approval; empty for an allow. Each is "code: message", sorted.
	Reasons []string `json:"reasons"`
	// PolicyVersion is the label of the version that decided ("base" when
	// the tenant has no version of its own).
	PolicyVersion string `json:"policy_version"`
	// DecisionID identifies this decision; the audit entry records it.
	DecisionID string `json:"decision_id"`
}

// Allowed reports whether the call may go ahead without approval.
func (d Decision) Allowed() bool { return d.Decision == Allow }
