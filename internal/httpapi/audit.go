package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

func (s *Server) audit() (*audit.Log, error) {
	if s.Audit == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "the audit trail is not configured")
	}
	return s.Audit, nil
}

// AuditListResponse is a page of GET /audit, newest first. NextCursor,
// when set, fetches the next (older) page as ?cursor=….
type AuditListResponse struct {
	Records    []audit.Record `json:"records"`
	Count      int            `json:"count"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if f.Limit, err = queryLimit(q, audit.MaxListLimit); err != nil {
		return err
	}
	if v := q.Get("cursor"); v != "" {
		// The cursor is the seq of the last record of the previous page;
		// clients treat it as opaque.
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return vargate.Invalid("cursor", "is not a cursor this API returned")
		}
		f.BeforeSeq = n
	}
	recs, err := l.Store.List(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	resp := AuditListResponse{Records: recs, Count: len(recs)}
	if len(recs) == f.EffectiveLimit() && recs[len(recs)-1].Seq > 1 {
		resp.NextCursor = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// auditFilter reads the record filters shared by GET /audit and
// GET /audit/bundle.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f := audit.Filter{
		SessionID: q.Get("session_id"),
		Source:    audit.Source(q.Get("source")),
		Tool:      q.Get("tool"),
		Decision:  q.Get("decision"),
		ActionID:  q.Get("action_id"),
		AgentID:   q.Get("agent_id"),
	}
	if f.Source != "" && !f.Source.Valid() {
		return f, vargate.Invalid("source", "unknown source %q", f.Source)
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(b.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, vargate.Invalid(b.name, "must be an RFC 3339 time such as 2026-04-11T14:30:00Z")
			}
			*b.dst = t
		}
	}
	return f, nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	res, err := l.Verify(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// AuditCheckpointResponse is GET /audit/checkpoint: the latest signed
// checkpoint (C2SP tlog-checkpoint signed note) and the note verifier key
// that checks it — the value `vargate verify --public-key` takes.
type AuditCheckpointResponse struct {
	TenantID   string     `json:"tenant_id"`
	TreeSize   int64      `json:"tree_size"`
	RootHash   audit.Hash `json:"root_hash"` // hex, as every hash in the API (the note has it in base64)
	Checkpoint string     `json:"checkpoint"`
	PublicKey  string     `json:"public_key"`
	CreatedAt  *time.Time `json:"created_at,omitempty"`
}

func checkpointResponse(l *audit.Log, c audit.Checkpoint) AuditCheckpointResponse {
	resp := AuditCheckpointResponse{TenantID: c.TenantID, TreeSize: c.Size, RootHash: c.Root, Checkpoint: c.Note, PublicKey: l.PublicKey()}
	if !c.Created.IsZero() {
		resp.CreatedAt = &c.Created
	}
	return resp
}

func (s *Server) getAuditCheckpoint(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	// Signs a fresh checkpoint if records arrived since the last one.
	c, err := l.Checkpoint(r.Context(), p.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, checkpointResponse(l, c))
	return nil
}

// AuditInclusionResponse proves that record Seq (whose hash is
// RecordHash) is in the tree of TreeSize records that Checkpoint signs.
type AuditInclusionResponse struct {
	audit.InclusionProof
	RecordHash audit.Hash `json:"record_hash"`
	Checkpoint string     `json:"checkpoint,omitempty"`
}

func (s *Server) getAuditInclusion(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	seq, err := int64Param(r, "seq", true)
	if err != nil {
		return err
	}
	size, err := int64Param(r, "tree_size", false)
	if err != nil {
		return err
	}
	proof, c, err := l.InclusionProof(r.Context(), p.TenantID, seq, size)
	if err != nil {
		return err
	}
	hashes, err := l.Store.Hashes(r.Context(), p.TenantID, seq, seq+1)
	if err != nil {
		return err
	}
	if len(hashes) != 1 {
		return vargate.NotFound("audit record")
	}
	writeJSON(w, http.StatusOK, AuditInclusionResponse{InclusionProof: proof, RecordHash: hashes[0], Checkpoint: c.Note})
	return nil
}

// AuditConsistencyResponse proves that the tree of From records is a
// prefix of the tree of To records; the checkpoints are those stored at
// exactly those sizes, if any.
type AuditConsistencyResponse struct {
	audit.ConsistencyProof
	FromCheckpoint string `json:"from_checkpoint,omitempty"`
	ToCheckpoint   string `json:"to_checkpoint,omitempty"`
}

func (s *Server) getAuditConsistency(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	from, err := int64Param(r, "from", true)
	if err != nil {
		return err
	}
	to, err := int64Param(r, "to", false)
	if err != nil {
		return err
	}
	proof, err := l.ConsistencyProof(r.Context(), p.TenantID, from, to)
	if err != nil {
		return err
	}
	resp := AuditConsistencyResponse{ConsistencyProof: proof}
	for _, c := range []struct {
		size int64
		dst  *string
	}{{proof.From, &resp.FromCheckpoint}, {proof.To, &resp.ToCheckpoint}} {
		cp, err := l.Store.CheckpointAt(r.Context(), p.TenantID, c.size)
		switch {
		case err == nil:
			*c.dst = cp.Note
		case !vargate.IsKind(err, vargate.KindNotFound):
			return err
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// getAuditBundle exports an offline-verifiable audit.Bundle: the whole log
// without filters, else the matching records with inclusion proofs.
func (s *Server) getAuditBundle(w http.ResponseWriter, r *http.Request, p vargate.Principal) error {
	l, err := s.audit()
	if err != nil {
		return err
	}
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	b, err := l.Bundle(r.Context(), p.TenantID, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// int64Param reads a non-negative integer query parameter (0 if absent
// and not required).
func int64Param(r *http.Request, name string, required bool) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			return 0, vargate.Invalid(name, "is required")
		}
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, vargate.Invalid(name, "must be a non-negative integer")
	}
	return n, nil
}
