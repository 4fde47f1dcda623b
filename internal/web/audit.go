package web

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Verifying reads the tenant's whole log, so a result is reused: for
// verifyTTL by the overview (which polls), for verifyFresh by the audit page
// (whose purpose it is).
const (
	verifyTTL   = 30 * time.Second
	verifyFresh = 5 * time.Second
)

// auditPageSize is the number of records per search page.
const auditPageSize = 50

// verifyCache keeps each tenant's latest verification.
type verifyCache struct {
	mu sync.Mutex
	m  map[string]verified
}

type verified struct {
	Result audit.VerifyResult
	At     time.Time
}

func (s *Server) verify(ctx context.Context, tenantID string, maxAge time.Duration) (verified, error) {
	now := s.Now()
	s.verified.mu.Lock()
	v, ok := s.verified.m[tenantID]
	s.verified.mu.Unlock()
	if ok && now.Sub(v.At) < maxAge {
		return v, nil
	}
	res, err := s.Audit.Verify(ctx, tenantID)
	if err != nil {
		return verified{}, err
	}
	v = verified{Result: res, At: now}
	s.verified.mu.Lock()
	if s.verified.m == nil {
		s.verified.m = map[string]verified{}
	}
	s.verified.m[tenantID] = v
	s.verified.mu.Unlock()
	return v, nil
}

// auditData is the audit page.
type auditData struct {
	Verified   verified
	Checkpoint audit.Checkpoint
	PublicKey  string
	Query      auditQuery
	Records    []event
	Sources    []audit.Source
	Next       string
}

// auditQuery is the search form.
type auditQuery struct {
	SessionID, Source, Tool, Decision, ActionID, AgentID, Since, Until string
}

func (q auditQuery) filter() (audit.Filter, error) {
	f := audit.Filter{SessionID: q.SessionID, Source: audit.Source(q.Source), Tool: q.Tool, Decision: q.Decision, ActionID: q.ActionID, AgentID: q.AgentID, Limit: auditPageSize}
	if f.Source != "" && !f.Source.Valid() {
		return f, vargate.Invalid("source", "unknown source %q", q.Source)
	}
	for _, b := range []struct {
		v     string
		field string
		dst   *time.Time
	}{{q.Since, "since", &f.Since}, {q.Until, "until", &f.Until}} {
		if b.v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02T15:04", b.v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, b.v); err != nil {
				return f, vargate.Invalid(b.field, "must be a date (YYYY-MM-DD) or date and time, UTC")
			}
		}
		*b.dst = t.UTC()
	}
	return f, nil
}

var auditSources = []audit.Source{audit.SourceMCPGoverned, audit.SourceMCPObserved, audit.SourceControlPlane, audit.SourceApproval, audit.SourceCredential}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	if s.Audit == nil || s.Records == nil {
		return notConfigured("The audit trail")
	}
	q := r.URL.Query()
	aq := auditQuery{SessionID: q.Get("session_id"), Source: q.Get("source"), Tool: q.Get("tool"), Decision: q.Get("decision"),
		ActionID: q.Get("action_id"), AgentID: q.Get("agent_id"), Since: q.Get("since"), Until: q.Get("until")}
	f, err := aq.filter()
	if err != nil {
		return err
	}
	if cur := q.Get("before"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n < 1 {
			return vargate.Invalid("before", "is not a cursor this page made")
		}
		f.BeforeSeq = n
	}
	d := auditData{Query: aq, PublicKey: s.Audit.PublicKey(), Sources: auditSources}
	maxAge := verifyFresh
	if q.Get("verify") == "1" {
		maxAge = 0
	}
	if d.Verified, err = s.verify(r.Context(), c.P.TenantID, maxAge); err != nil {
		return err
	}
	if d.Checkpoint, err = s.Audit.LatestCheckpoint(r.Context(), c.P.TenantID); err != nil {
		return err
	}
	recs, err := s.Records.List(r.Context(), c.P.TenantID, f)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		d.Records = append(d.Records, viewEvent(rec))
	}
	if len(recs) == f.EffectiveLimit() && recs[len(recs)-1].Seq > 1 {
		d.Next = strconv.FormatInt(recs[len(recs)-1].Seq, 10)
	}
	return s.render(w, r, c, http.StatusOK, "audit", "Audit", "audit", d)
}
