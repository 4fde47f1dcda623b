package observe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// Event types the consumer acts on.
const (
	typeToolUse         = "agent.tool_use"
	typeToolResult      = "agent.tool_result"
	typeMCPToolUse      = "agent.mcp_tool_use"
	typeMCPToolResult   = "agent.mcp_tool_result"
	typeStatusIdle      = "session.status_idle"
	typeStatusRunning   = "session.status_running"
	typeStatusResched   = "session.status_rescheduled"
	typeStatusTerm      = "session.status_terminated"
	typeSessionError    = "session.error"
	typeSessionDeleted  = "session.deleted"
	typeThreadCreated   = "session.thread_created"
	typeUserInterrupt   = "user.interrupt"
	typeUserConfirm     = "user.tool_confirmation"
	typeEventStart      = "event_start"
	typeEventDelta      = "event_delta"
	stopEndTurn         = "end_turn"
	stopRequiresAction  = "requires_action"
	stopRetriesExhaust  = "retries_exhausted"
	stopBudgetReached   = "budget_reached"
	stopRefusal         = "refusal"
	permissionAsk       = "ask"
	upstreamIdle        = "idle"
	upstreamRunning     = "running"
	upstreamRescheduled = "rescheduling"
	upstreamTerminated  = "terminated"
)

// wireEvent is the part of a Managed Agents event the consumer reads. It
// is decoded from the raw JSON the SDK hands over (RawJSON), with only the
// fields needed, so that an event costs one small decode.
type wireEvent struct {
	ID                  string          `json:"id"`
	Type                string          `json:"type"`
	ProcessedAt         *time.Time      `json:"processed_at"`
	Name                string          `json:"name"`
	Input               json.RawMessage `json:"input"`
	EvaluatedPermission string          `json:"evaluated_permission"`
	MCPServerName       string          `json:"mcp_server_name"`
	SessionThreadID     *string         `json:"session_thread_id"`
	ToolUseID           string          `json:"tool_use_id"`
	MCPToolUseID        string          `json:"mcp_tool_use_id"`
	Content             json.RawMessage `json:"content"`
	IsError             bool            `json:"is_error"`
	StopReason          *struct {
		Type     string   `json:"type"`
		EventIDs []string `json:"event_ids"`
	} `json:"stop_reason"`
	Error *struct {
		Type        string `json:"type"`
		Message     string `json:"message"`
		RetryStatus *struct {
			Type string `json:"type"`
		} `json:"retry_status"`
		MCPServerName string `json:"mcp_server_name"`
	} `json:"error"`
	AgentName string `json:"agent_name"`
}

// threadID returns the event's session_thread_id, or "".
func (e *wireEvent) threadID() string {
	if e.SessionThreadID == nil {
		return ""
	}
	return *e.SessionThreadID
}

// processedAt returns processed_at, or zero while the event is queued.
func (e *wireEvent) processedAt() time.Time {
	if e.ProcessedAt == nil {
		return time.Time{}
	}
	return e.ProcessedAt.UTC()
}

// parseEvent decodes one event.
func parseEvent(raw []byte) (wireEvent, error) {
	var e wireEvent
	err := json.Unmarshal(raw, &e)
	return e, err
}

// MaxResultExcerpt bounds the excerpt of a tool result kept in the audit
// record.
const MaxResultExcerpt = 2048

// resultExcerpt returns the text of a tool result's content blocks, cut to
// max bytes, with non-text blocks named, and the digest of the content as
// sent.
func resultExcerpt(content json.RawMessage, max int) (excerpt, digest string) {
	if len(content) == 0 {
		return "", ""
	}
	sum := sha256.Sum256(content)
	digest = "sha256:" + hex.EncodeToString(sum[:])
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(content, &blocks); err != nil {
		var s string
		if json.Unmarshal(content, &s) == nil {
			return cut(s, max), digest
		}
		return cut(string(content), max), digest
	}
	var b strings.Builder
	for i, bl := range blocks {
		if i > 0 {
			b.WriteByte('\n')
		}
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		} else {
			b.WriteString("[" + bl.Type + "]")
		}
		if b.Len() > max {
			break
		}
	}
	return cut(b.String(), max), digest
}

// cut shortens s to at most max bytes on a rune boundary, marking the cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…[truncated]"
	n := max - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// objectOrEmpty returns input when it is a JSON object, else {}.
func objectOrEmpty(input json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(input)
	if len(t) == 0 || t[0] != '{' {
		return json.RawMessage(`{}`)
	}
	return input
}
