package audit

// Names the trail uses, defined once for every writer and reader.

// Events: the Decision of session and control-plane records about a
// session's life.
const (
	EventSessionCreated        = "session.created"
	EventSessionCreateFailed   = "session.create_failed"
	EventSessionResumed        = "session.resumed"
	EventSessionCompleted      = "session.completed"
	EventSessionFailed         = "session.failed"
	EventSessionExpired        = "session.expired"
	EventSessionInterrupted    = "session.interrupted"
	EventInterruptConfirmed    = "session.interrupt_confirmed"
	EventInterruptUnconfirmed  = "session.interrupt_unconfirmed"
	EventApprovalOutcomeSent   = "session.approval_outcome_sent"
	DetailKindToolConfirmation = "tool_confirmation"
)

// ConfirmationDetail is the Detail of an mcp_governed record of a
// built-in tool call that the gateway confirmed or refused (observe).
type ConfirmationDetail struct {
	// Kind is DetailKindToolConfirmation.
	Kind      string `json:"kind"`
	EventID   string `json:"event_id"`
	ThreadID  string `json:"thread_id,omitempty"`
	MCPServer string `json:"mcp_server,omitempty"`
	Note      string `json:"note,omitempty"`
	// Input is the policy input, as in GovernedDetail.
	Input any `json:"input,omitempty"`
	// Policy is the policy's own decision when the gateway's was stricter.
	Policy any `json:"policy,omitempty"`
}
