package audit

import (
	"encoding/json"
	"time"
)

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

// ObservedDetail is the Detail of an mcp_observed record: a tool use
// the watch saw after the fact (observe).
type ObservedDetail struct {
	EventID             string `json:"event_id"`
	ThreadID            string `json:"thread_id,omitempty"`
	MCPServer           string `json:"mcp_server,omitempty"`
	EvaluatedPermission string `json:"evaluated_permission,omitempty"`
	Confirmation        string `json:"confirmation,omitempty"`
	// ProcessedAt is the tool use event's own time (processed_at),
	// beside the record's time; UsedAt is the same, kept for readers of
	// older records.
	ProcessedAt   time.Time `json:"processed_at"`
	UsedAt        time.Time `json:"used_at"`
	ResultEventID string    `json:"result_event_id,omitempty"`
	ResultAt      time.Time `json:"result_at,omitzero"`
	ResultExcerpt string    `json:"result_excerpt"`
	IsError       bool      `json:"is_error"`
	// NoResult is set when the session ended before the tool returned.
	NoResult bool `json:"no_result,omitempty"`
}

// SessionErrorDetail is the Detail of the session record of a
// session.error event (observe).
type SessionErrorDetail struct {
	EventID       string `json:"event_id"`
	Type          string `json:"type"`
	Message       string `json:"message,omitempty"`
	RetryStatus   string `json:"retry_status,omitempty"`
	MCPServerName string `json:"mcp_server_name,omitempty"`
}

// DeadLetterDetail is the Detail of a dead-letter record: an event the
// watch could not process (observe).
type DeadLetterDetail struct {
	EventID   string `json:"event_id,omitempty"`
	EventType string `json:"event_type,omitempty"`
	// EventDigest is the SHA-256 of the raw event, for one without a
	// usable ID.
	EventDigest string `json:"event_digest,omitempty"`
	EventBytes  int    `json:"event_bytes,omitempty"`
	Tool        string `json:"tool,omitempty"`
	Reason      string `json:"reason"`
}

// InterruptDetail is the Detail of the session record of an interrupt's
// outcome (observe).
type InterruptDetail struct {
	Event     string `json:"event"`
	Reason    string `json:"reason"`
	Automatic bool   `json:"automatic"`
	Confirmed bool   `json:"confirmed"`
	EventID   string `json:"interrupt_event_id,omitempty"`
	// ConfirmedBy is how the session was seen stopped: "stream" or
	// "session_status".
	ConfirmedBy string          `json:"confirmed_by,omitempty"`
	Attempts    int             `json:"attempts"`
	Anomaly     json.RawMessage `json:"anomaly,omitempty"`
}
