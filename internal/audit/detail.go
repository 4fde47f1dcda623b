package audit

// Record shapes: the Detail of the records the gateway writes, owned here
// so that every writer and reader agrees on them.

// GovernedDetail is the Detail of an mcp_governed record.
type GovernedDetail struct {
	// Error explains a failed, invalid or cancelled outcome.
	Error   string  `json:"error,omitempty"`
	Latency Latency `json:"latency_us"`
	// Input is the policy input the decision was made from
	// (policy.Input), for replay; its call.arguments are the record's
	// args_redacted, stored once.
	Input any `json:"input,omitempty"`
}

// OutcomeDetail is the Detail of an mcp_outcome record.
type OutcomeDetail struct {
	Error   string  `json:"error,omitempty"`
	Latency Latency `json:"latency_us"`
}

// Latency is where a governed call's time went, in microseconds.
type Latency struct {
	PolicyUS    int64 `json:"policy"`
	ConnectorUS int64 `json:"connector"`
	TotalUS     int64 `json:"total"`
}
