package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

// ExportFormat names the version of the export document's layout.
const ExportFormat = "vargate.compliance.session.v1"

// SessionInfo is an export's session: the session record and the agent
// configuration version it pinned, as they were when it started.
type SessionInfo struct {
	ID                 string     `json:"id"`
	AnthropicSessionID string     `json:"anthropic_session_id"`
	TenantID           string     `json:"tenant_id"`
	AgentID            string     `json:"agent_id"`
	AgentVersion       int        `json:"agent_version"`
	Status             string     `json:"status"`
	CreatedAt          time.Time  `json:"created_at"`
	EndedAt            *time.Time `json:"ended_at"`
	// DurationSeconds runs from creation to the end, or to the export
	// for a session that has not ended.
	DurationSeconds  float64  `json:"duration_seconds"`
	SystemPromptHash string   `json:"system_prompt_hash"`
	EndReason        string   `json:"end_reason,omitempty"`
	CreatedBy        string   `json:"created_by,omitempty"`
	DelegationChain  []string `json:"delegation_chain"`
	ParentSessionID  string   `json:"parent_session_id,omitempty"`
	// AgentConfig is the configuration version the session pinned (the
	// API's shape); GovernanceProfile is its governance_profile. Both are
	// null when that version can no longer be read.
	AgentConfig       json.RawMessage `json:"agent_config"`
	GovernanceProfile json.RawMessage `json:"governance_profile"`
}

// Document is the whole export, for reading one back. Writers stream it
// (Export.WriteJSON) rather than build it.
type Document struct {
	Format      string      `json:"format"`
	ExportedAt  time.Time   `json:"exported_at"`
	AGCSVersion string      `json:"agcs_version"`
	Session     SessionInfo `json:"session"`
	Timeline    []Event     `json:"timeline"`
	Summary     Summary     `json:"summary"`
	// AGCSControls holds the exercised controls by ID; EUAIAct the
	// articles by key (article_12, article_14).
	AGCSControls      map[string]Control `json:"agcs_controls"`
	EUAIAct           map[string]Article `json:"eu_ai_act"`
	ChainVerification ChainVerification  `json:"chain_verification"`
}

// Export is a session's compliance export, ready to be written. Its
// records are fixed by the signed checkpoint it was prepared with: records
// the session gains afterwards are not in it.
type Export struct {
	s          *Service
	tenantID   string
	sess       session.Session
	cfg        *agent.Config
	checkpoint audit.Checkpoint
	body       audit.CheckpointBody
	exportedAt time.Time
}

// Export prepares the export of the tenant's session: it reads the session
// and its configuration and signs a checkpoint that covers the session's
// records so far. A session of another tenant is not found.
func (s *Service) Export(ctx context.Context, tenantID, sessionID string) (*Export, error) {
	if s.Sessions == nil || s.Records == nil || s.Audit == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "compliance export is not configured")
	}
	sess, err := s.Sessions.Get(ctx, tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.TenantID != tenantID {
		return nil, vargate.NotFound("session " + sessionID)
	}
	e := &Export{s: s, tenantID: tenantID, sess: sess, exportedAt: s.now()}
	if s.Agents != nil {
		cfg, err := s.Agents.GetVersion(ctx, tenantID, sess.AgentID, sess.AgentVersion)
		switch {
		case err == nil:
			e.cfg = &cfg
		case !vargate.IsKind(err, vargate.KindNotFound):
			return nil, fmt.Errorf("agent configuration of session %s: %w", sessionID, err)
		}
	}
	if e.checkpoint, err = s.Audit.Checkpoint(ctx, tenantID); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	v, err := audit.NewVerifier(s.Audit.PublicKey())
	if err != nil {
		return nil, err
	}
	if e.body, err = v.Open(tenantID, e.checkpoint.Note); err != nil {
		return nil, fmt.Errorf("audit checkpoint: %w", err)
	}
	return e, nil
}

// SessionInfo returns the export's session section.
func (e *Export) SessionInfo() SessionInfo {
	s := e.sess
	end := e.exportedAt
	if s.EndedAt != nil {
		end = *s.EndedAt
	}
	info := SessionInfo{
		ID: s.ID, AnthropicSessionID: s.AnthropicSessionID, TenantID: s.TenantID, AgentID: s.AgentID,
		AgentVersion: s.AgentVersion, Status: string(s.Status), CreatedAt: s.CreatedAt, EndedAt: s.EndedAt,
		DurationSeconds:  math.Round(max(0, end.Sub(s.CreatedAt).Seconds())*1000) / 1000,
		SystemPromptHash: s.SystemPromptHash, EndReason: s.EndReason, CreatedBy: s.CreatedBy,
		DelegationChain: s.DelegationChain, ParentSessionID: s.ParentSessionID,
		AgentConfig: json.RawMessage("null"), GovernanceProfile: json.RawMessage("null"),
	}
	if info.DelegationChain == nil {
		info.DelegationChain = []string{}
	}
	if e.cfg != nil {
		doc := agent.Document(*e.cfg)
		if b, err := json.Marshal(doc); err == nil {
			info.AgentConfig = b
		}
		if b, err := json.Marshal(doc["governance_profile"]); err == nil {
			info.GovernanceProfile = b
		}
	}
	return info
}

// scan calls fn with each of the export's records, oldest first.
func (e *Export) scan(ctx context.Context, fn func(*audit.Record) error) error {
	return e.s.sessionRecords(ctx, e.tenantID, e.sess.ID, e.body.Size, fn)
}

// assessment is what one pass over the records computes.
type assessment struct {
	summary  Summary
	controls []Control
	articles []Article
}

// assess runs the summary and the controls over every record, calling
// each (if not nil) with each record's facts.
func (e *Export) assess(ctx context.Context, each func(*facts) error) (assessment, error) {
	z, a := newSummarizer(), newAssessor(e.s.maxEvidence())
	err := e.scan(ctx, func(rec *audit.Record) error {
		f := classify(rec)
		z.add(&f)
		a.add(&f)
		if each != nil {
			return each(&f)
		}
		return nil
	})
	if err != nil {
		return assessment{}, fmt.Errorf("read session records: %w", err)
	}
	return assessment{summary: z.summary(), controls: a.exercised(), articles: a.mapping()}, nil
}

// WriteJSON streams the export as JSON. It reads the session's records
// three times (timeline, records, proofs) and holds one page of them at a
// time. After an error the output is incomplete and must be discarded;
// an HTTP handler aborts the response.
func (e *Export) WriteJSON(ctx context.Context, w io.Writer) error {
	out := newStream(w)
	out.beginObject()
	out.field("format", ExportFormat)
	out.field("vargate_compliance_export", "managed_session")
	out.field("exported_at", e.exportedAt)
	out.field("agcs_version", AGCSVersion)
	out.field("session", e.SessionInfo())

	out.arrayField("timeline")
	res, err := e.assess(ctx, func(f *facts) error {
		out.elem(f.event())
		return out.err
	})
	if err != nil {
		return err
	}
	out.endArray()
	out.field("summary", res.summary)
	out.objectField("agcs_controls")
	for _, c := range res.controls {
		out.field(c.ID, c)
	}
	out.endObject()
	out.objectField("eu_ai_act")
	for i, a := range res.articles {
		out.field(articles[i].key, a)
	}
	out.endObject()

	if err := e.writeChain(ctx, out); err != nil {
		return err
	}
	out.endObject()
	out.raw("\n")
	return out.flush()
}

// writeChain writes chain_verification: the bundle's fields, the records
// (checking hashes and links), the proofs (checking each against the
// checkpoint), then the verdict.
func (e *Export) writeChain(ctx context.Context, out *stream) error {
	check := &chainCheck{tenantID: e.tenantID, size: e.body.Size, root: e.body.Root}
	out.objectField("chain_verification")
	out.field("format", audit.BundleFormat)
	out.field("tenant_id", e.tenantID)
	out.field("public_key", e.s.Audit.PublicKey())
	out.field("checkpoint", e.checkpoint.Note)

	out.arrayField("records")
	st := newSessionTree()
	err := e.scan(ctx, func(rec *audit.Record) error {
		check.record(rec)
		if err := st.add(rec.Hash); err != nil {
			return err
		}
		out.elem(rec)
		return out.err
	})
	if err != nil {
		return fmt.Errorf("read session records: %w", err)
	}
	out.endArray()

	out.arrayField("proofs")
	t := newTree(e.s.Audit.Store, e.tenantID, e.body.Size)
	err = e.scan(ctx, func(rec *audit.Record) error {
		p, err := t.inclusion(ctx, rec.Seq)
		if err != nil {
			return fmt.Errorf("inclusion proof of record %d: %w", rec.Seq, err)
		}
		check.proof(rec, p)
		out.elem(p)
		return out.err
	})
	if err != nil {
		return err
	}
	out.endArray()

	r := check.result(e.s.now())
	out.field("valid", r.Valid)
	out.field("records_checked", r.RecordsChecked)
	out.field("first_invalid_seq", r.FirstInvalidSeq)
	if r.Reason != "" {
		out.field("reason", r.Reason)
	}
	out.field("tree_size", r.TreeSize)
	out.field("root_hash", r.RootHash)
	out.field("verified_at", r.VerifiedAt)
	n, root, err := st.root()
	if err != nil {
		return err
	}
	note, err := e.s.Audit.Signer.SignCheckpoint(SessionLog(e.tenantID, e.sess.ID), n, root)
	if err != nil {
		return fmt.Errorf("sign session checkpoint: %w", err)
	}
	out.field("session_checkpoint", note)
	out.endObject()
	return out.err
}
