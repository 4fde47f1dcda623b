package web

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// Verifying reads the tenant's whole log (some 25,000 records a second on
// the project's machines), so it runs in the background, one at a time
// per tenant, and pages show the latest result: the overview (which polls)
// accepts one up to verifyTTL old, the audit page one up to verifyFresh,
// and "Verify now" starts a new one. A page waits a little for a run it
// started, then shows the previous result (or none) as in progress.
const (
	verifyTTL     = 5 * time.Minute
	verifyFresh   = 30 * time.Second
	verifyWait    = 3 * time.Second
	verifyNowWait = 20 * time.Second
	// verifyTimeout bounds one background verification.
	verifyTimeout = 30 * time.Minute
)

// verifyCache keeps each tenant's latest verification.
type verifyCache struct {
	mu sync.Mutex
	m  map[string]*verifyState
	// closed says the Server is closed: no verification starts.
	closed bool
}

type verifyState struct {
	last *verified
	// done is open while a verification runs.
	done chan struct{}
}

// verified is a finished verification.
type verified struct {
	Result audit.VerifyResult
	At     time.Time
	// Failed says the verification could not run (the log has the error).
	Failed bool
}

// verifyStatus is what a page shows of the chain's verification.
type verifyStatus struct {
	// Last is the latest finished verification, nil before the first.
	Last *verified
	// Running says a verification is in progress.
	Running bool
}

// verify returns the tenant's latest verification, starting one in the
// background when the latest is older than maxAge, and waiting up to wait
// for a run in progress.
func (s *Server) verify(ctx context.Context, tenantID string, maxAge, wait time.Duration) verifyStatus {
	s.verified.mu.Lock()
	if s.verified.m == nil {
		s.verified.m = map[string]*verifyState{}
	}
	st := s.verified.m[tenantID]
	if st == nil {
		st = &verifyState{}
		s.verified.m[tenantID] = st
	}
	if !s.verified.closed && st.done == nil && (st.last == nil || s.Now().Sub(st.last.At) >= maxAge) {
		done := make(chan struct{})
		st.done = done
		s.running.Go(func() { s.runVerify(tenantID, st, done) })
	}
	done := st.done
	s.verified.mu.Unlock()

	if done != nil && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.verified.mu.Lock()
	defer s.verified.mu.Unlock()
	return verifyStatus{Last: st.last, Running: st.done != nil}
}

// runVerify verifies the tenant's chain and records the result. It is not
// tied to the request that started it, so a slow verification finishes
// for the next page view; Close cancels it.
func (s *Server) runVerify(tenantID string, st *verifyState, done chan struct{}) {
	ctx, cancel := context.WithTimeout(s.work, verifyTimeout)
	defer cancel()
	res, err := s.Audit.Verify(ctx, tenantID)
	v := &verified{Result: res, At: s.Now()}
	if err != nil {
		if s.work.Err() == nil { // else cancelled by Close: no failure to report
			s.Logger.LogAttrs(ctx, slog.LevelError, "dashboard: verify audit chain",
				slog.String(logKeyTenant, tenantID), slog.Any(logKeyError, err))
		}
		v.Failed = true
	}
	s.verified.mu.Lock()
	st.last, st.done = v, nil
	s.verified.mu.Unlock()
	close(done)
}

// auditPageSize is the number of records per search page.
const auditPageSize = 50

// auditData is the audit page.
type auditData struct {
	Verified   verifyStatus
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
	if q.Get("verify") == "1" {
		d.Verified = s.verify(r.Context(), c.P.TenantID, 0, verifyNowWait)
	} else {
		d.Verified = s.verify(r.Context(), c.P.TenantID, verifyFresh, verifyWait)
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
