package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/vargate/vargate"
)

// Source says which part of the gateway produced a record.
type Source string

// The sources.
const (
	// SourceMCPGoverned is a tool call the gateway decided on before it ran.
	SourceMCPGoverned Source = "mcp_governed"
	// SourceMCPObserved is a tool call seen after the fact (Managed Agents
	// events), not enforced.
	SourceMCPObserved Source = "mcp_observed"
	// SourceControlPlane is a configuration change: policies, agents,
	// keys, tenants, settings.
	SourceControlPlane Source = "control_plane"
	// SourceApproval is a step of a queued action: approved, rejected,
	// expired, executed.
	SourceApproval Source = "approval"
	// SourceCredential is a credential read or use through the vault.
	SourceCredential Source = "credential"
	// SourceSession is a session lifecycle event: created, ended, token
	// issued, interrupted.
	SourceSession Source = "session"
	// SourceMCPOutcome is how an allowed governed call ended (executed,
	// failed, cancelled). It follows the call's mcp_governed record, which
	// is committed before the connector runs, and names the same action.
	SourceMCPOutcome Source = "mcp_outcome"
)

// Outcome is how a governed call ended, a first-class field of its
// records (mcp_governed, mcp_outcome and tool confirmations).
type Outcome string

// The outcomes. The names of pending and invalid are those the trail has
// always used in the governed record's detail.
const (
	// OutcomeExecuting is the outcome of an allowed call's mcp_governed
	// record, written before the connector runs; its mcp_outcome record
	// says how it ended. Alone (no mcp_outcome record) it means the
	// gateway stopped while the connector ran: the side effect may or
	// may not have happened.
	OutcomeExecuting Outcome = "executing"
	// OutcomeExecuted: allowed, and the connector answered.
	OutcomeExecuted Outcome = "executed"
	// OutcomeFailed: allowed, but the connector failed (or the call could
	// not be queued).
	OutcomeFailed Outcome = "failed"
	// OutcomeDenied: refused by policy or by the gateway; nothing ran.
	OutcomeDenied Outcome = "denied"
	// OutcomePending: queued for a human; nothing ran yet.
	OutcomePending Outcome = "pending_approval"
	// OutcomeInvalid: the arguments were refused (undecodable, or not
	// fitting the tool's schema or connector); nothing ran.
	OutcomeInvalid Outcome = "invalid_arguments"
	// OutcomeCancelled: the client cancelled or went away, or the session
	// or agent stopped, before the side effect; nothing ran (or, on an
	// mcp_outcome record, the connector was stopped midway).
	OutcomeCancelled Outcome = "cancelled"
)

// Valid reports whether o is a known outcome (or empty).
func (o Outcome) Valid() bool {
	switch o {
	case "", OutcomeExecuting, OutcomeExecuted, OutcomeFailed, OutcomeDenied, OutcomePending, OutcomeInvalid, OutcomeCancelled:
		return true
	}
	return false
}

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceMCPGoverned, SourceMCPObserved, SourceControlPlane, SourceApproval, SourceCredential, SourceSession, SourceMCPOutcome:
		return true
	}
	return false
}

// Hash is a SHA-256 digest. In JSON it is lower-case hex.
type Hash [32]byte

// String returns h in lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the PrevHash of a chain's first record).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as hex.
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(b, h[:])
	return b, nil
}

// UnmarshalText decodes 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	if len(b) != hex.EncodedLen(len(h)) {
		return fmt.Errorf("hash must be %d hex digits, got %d characters", hex.EncodedLen(len(h)), len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// Record is one entry of a tenant's audit trail. Every field except Hash
// is covered by Hash (see Encode). Time is kept at microsecond precision,
// the precision it is stored with.
type Record struct {
	TenantID string    `json:"tenant_id"`
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Source   Source    `json:"source"`
	// SessionID is the Managed Agents or MCP session the event belongs to.
	SessionID string `json:"session_id,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
	// ActionID identifies one tool call across its records: the decision,
	// then any approval steps and the execution each name it again.
	ActionID      string   `json:"action_id,omitempty"`
	Tool          string   `json:"tool,omitempty"`
	Decision      string   `json:"decision,omitempty"`
	PolicyVersion string   `json:"policy_version,omitempty"`
	DecisionID    string   `json:"decision_id,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
	// ArgsDigest is the digest of the full, unredacted arguments.
	ArgsDigest string `json:"args_digest,omitempty"`
	// ArgsRedacted is the arguments with secrets and PII redacted, so the
	// trail shows what was asked.
	ArgsRedacted json.RawMessage `json:"args_redacted,omitempty"`
	ResultDigest string          `json:"result_digest,omitempty"`
	// Outcome is how a governed call ended; empty on other records. A
	// record with an outcome is encoded in layout v2 (see Encode).
	Outcome Outcome `json:"outcome,omitempty"`
	// Anomaly holds anomaly flags and score as a JSON object.
	Anomaly json.RawMessage `json:"anomaly,omitempty"`
	// Actor is who caused the record: an API key ID, a session token's
	// session, or "system".
	Actor string `json:"actor,omitempty"`
	// Detail is free-form JSON, e.g. the before/after of a configuration
	// change or a system prompt and its hash.
	Detail   json.RawMessage `json:"detail,omitempty"`
	PrevHash Hash            `json:"prev_hash"`
	Hash     Hash            `json:"hash"`
}

// Clone returns a copy of rec that shares no memory with it, for keeping
// a record that Store.Scan passed in.
func (rec *Record) Clone() Record {
	c := *rec
	c.Reasons = slices.Clone(rec.Reasons)
	c.ArgsRedacted = bytes.Clone(rec.ArgsRedacted)
	c.Anomaly = bytes.Clone(rec.Anomaly)
	c.Detail = bytes.Clone(rec.Detail)
	return c
}

// Limits on record fields, so that one record cannot bloat the trail.
const (
	MaxStringBytes = 1024      // each ID-like string field
	MaxReasons     = 64        // entries in Reasons
	MaxReasonBytes = 4096      // each reason
	MaxJSONBytes   = 256 << 10 // each JSON field, after canonicalisation
)

// encodingTag starts every encoded record; it names the encoding version:
// v1 for records without an outcome, v2 for those with one.
const (
	encodingTag   = "vargate.audit.v1"
	encodingTagV2 = "vargate.audit.v2"
)

// Normalize checks rec and rewrites it into the form that is stored and
// hashed: Time in UTC truncated to microseconds, JSON fields in RFC 8785
// canonical form (JSON null and an empty field are the same: empty), and
// an empty Reasons as nil. It does not touch Seq, PrevHash or Hash.
func (rec *Record) Normalize() error {
	if rec.TenantID == "" {
		return vargate.Invalid("tenant_id", "is required")
	}
	if !rec.Source.Valid() {
		return vargate.Invalid("source", "unknown source %q", rec.Source)
	}
	if rec.Time.IsZero() {
		return vargate.Invalid("time", "is required")
	}
	rec.Time = rec.Time.UTC().Truncate(time.Microsecond)
	for _, f := range []struct {
		name string
		v    string
	}{
		{"tenant_id", rec.TenantID}, {"source", string(rec.Source)}, {"session_id", rec.SessionID},
		{"agent_id", rec.AgentID}, {"action_id", rec.ActionID}, {"tool", rec.Tool},
		{"decision", rec.Decision}, {"policy_version", rec.PolicyVersion}, {"decision_id", rec.DecisionID},
		{"args_digest", rec.ArgsDigest}, {"result_digest", rec.ResultDigest}, {"actor", rec.Actor},
		{"outcome", string(rec.Outcome)},
	} {
		if len(f.v) > MaxStringBytes {
			return vargate.Invalid(f.name, "longer than %d bytes", MaxStringBytes)
		}
		if !utf8.ValidString(f.v) {
			return vargate.Invalid(f.name, "is not valid UTF-8")
		}
	}
	if !rec.Outcome.Valid() {
		return vargate.Invalid("outcome", "unknown outcome %q", rec.Outcome)
	}
	if len(rec.Reasons) > MaxReasons {
		return vargate.Invalid("reasons", "more than %d entries", MaxReasons)
	}
	for _, r := range rec.Reasons {
		if len(r) > MaxReasonBytes || !utf8.ValidString(r) {
			return vargate.Invalid("reasons", "each reason must be valid UTF-8 of at most %d bytes", MaxReasonBytes)
		}
	}
	if len(rec.Reasons) == 0 {
		rec.Reasons = nil
	}
	var err error
	if rec.ArgsRedacted, err = canonicalJSON("args_redacted", rec.ArgsRedacted); err != nil {
		return err
	}
	if rec.Anomaly, err = canonicalJSON("anomaly", rec.Anomaly); err != nil {
		return err
	}
	if rec.Detail, err = canonicalJSON("detail", rec.Detail); err != nil {
		return err
	}
	return nil
}

// canonicalJSON returns raw in RFC 8785 (JCS) form, or nil for an empty
// value or JSON null. The result never shares memory with raw. Raw that
// is canonical already (what the canonical writers produce) is only
// checked and copied, not re-encoded: the result is the same.
func canonicalJSON(field string, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if isCanonical(raw) {
		if string(raw) == "null" {
			return nil, nil
		}
		if len(raw) > MaxJSONBytes {
			return nil, vargate.Invalid(field, "longer than %d bytes", MaxJSONBytes)
		}
		return bytes.Clone(raw), nil
	}
	v := jsontext.Value(append([]byte(nil), raw...))
	if err := v.Canonicalize(); err != nil {
		return nil, vargate.Invalid(field, "invalid JSON: %v", err)
	}
	if string(v) == "null" {
		return nil, nil
	}
	if len(v) > MaxJSONBytes {
		return nil, vargate.Invalid(field, "longer than %d bytes", MaxJSONBytes)
	}
	return json.RawMessage(v), nil
}

// Encode appends the canonical binary encoding of rec (every field but
// Hash) to b. The layout, version 1:
//
//	"vargate.audit.v1"                      16 bytes, the version tag
//	tenant_id                               str
//	seq                                     uint64, big-endian
//	time                                    int64, big-endian, Unix microseconds
//	source, session_id, agent_id, action_id,
//	tool, decision, policy_version,
//	decision_id                             str each
//	reasons                                 uint32 count, then str each
//	args_digest                             str
//	args_redacted                           str (RFC 8785 JSON, or empty)
//	result_digest                           str
//	anomaly                                 str (RFC 8785 JSON, or empty)
//	actor                                   str
//	detail                                  str (RFC 8785 JSON, or empty)
//	prev_hash                               32 bytes
//
// A record with an Outcome is encoded in layout v2: the tag
// "vargate.audit.v2", then the same fields, then outcome (str) between
// detail and prev_hash. A record without one keeps layout v1, so every
// record written before v2 existed still verifies.
//
// where str is a uint32 big-endian byte length followed by the bytes.
// JSON fields are hashed exactly as given: call Normalize first (Append
// does) so that they are in canonical form.
func (rec *Record) Encode(b []byte) []byte {
	if rec.Outcome != "" {
		b = append(b, encodingTagV2...)
	} else {
		b = append(b, encodingTag...)
	}
	b = appendStr(b, rec.TenantID)
	b = binary.BigEndian.AppendUint64(b, uint64(rec.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(rec.Time.UnixMicro()))
	b = appendStr(b, string(rec.Source))
	b = appendStr(b, rec.SessionID)
	b = appendStr(b, rec.AgentID)
	b = appendStr(b, rec.ActionID)
	b = appendStr(b, rec.Tool)
	b = appendStr(b, rec.Decision)
	b = appendStr(b, rec.PolicyVersion)
	b = appendStr(b, rec.DecisionID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(rec.Reasons)))
	for _, r := range rec.Reasons {
		b = appendStr(b, r)
	}
	b = appendStr(b, rec.ArgsDigest)
	b = appendBytes(b, rec.ArgsRedacted)
	b = appendStr(b, rec.ResultDigest)
	b = appendBytes(b, rec.Anomaly)
	b = appendStr(b, rec.Actor)
	b = appendBytes(b, rec.Detail)
	if rec.Outcome != "" {
		b = appendStr(b, string(rec.Outcome))
	}
	return append(b, rec.PrevHash[:]...)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ComputeHash returns SHA-256 of rec's canonical encoding.
func (rec *Record) ComputeHash() Hash {
	var buf [512]byte
	return sha256.Sum256(rec.Encode(buf[:0]))
}

// hasher computes record hashes reusing one buffer; for verifying many.
type hasher struct{ buf []byte }

func (h *hasher) sum(rec *Record) Hash {
	h.buf = rec.Encode(h.buf[:0])
	return sha256.Sum256(h.buf)
}
