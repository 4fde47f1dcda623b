package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/vargate/vargate/internal/audit"
)

// audit writes the mcp_observed record of each finished tool use and
// waits for them; see startAudit.
func (p *processor) audit(ctx context.Context, uses []*use, check bool) error {
	if err := p.waitAudit(); err != nil {
		return err
	}
	p.startAudit(ctx, uses, check)
	return p.waitAudit()
}

// auditResult is the outcome of one background audit.
type auditResult struct {
	ok  []string // tool use IDs whose record is written
	err error
}

// startAudit writes the mcp_observed record of each finished tool use in
// the background, so that the next batch is parsed and stored meanwhile;
// waitAudit collects the outcome. At most one audit is in flight. The
// records are built from copies: the processor goes on with its state.
// They are marked audited with a later batch or by flushAudited. With
// check set (recovery), a use whose record is already in the trail is
// only marked.
func (p *processor) startAudit(ctx context.Context, uses []*use, check bool) {
	if len(uses) == 0 {
		return
	}
	snap := make([]ToolUse, len(uses))
	for i, u := range uses {
		snap[i] = u.ToolUse
	}
	done := make(chan auditResult, 1)
	p.inflight = done
	go func() { done <- p.writeAudit(ctx, snap, check) }()
}

// waitAudit waits for the audit in flight, if any, and applies its
// outcome: audited uses leave the state and are to be marked.
func (p *processor) waitAudit() error {
	if p.inflight == nil {
		return nil
	}
	r := <-p.inflight
	p.inflight = nil
	for _, id := range r.ok {
		delete(p.st.uses, id)
	}
	// The marks ride with the next batch (one transaction fewer per
	// batch under load) or are flushed when the stream is quiet.
	p.audited = append(p.audited, r.ok...)
	p.c.s.stats.observed.Add(int64(len(r.ok)))
	return r.err
}

func (p *processor) writeAudit(ctx context.Context, uses []ToolUse, check bool) auditResult {
	s := p.c.s
	actx, cancel := s.sideCtx(ctx)
	defer cancel()
	errs := make([]error, len(uses))
	// First what needs a look at the trail (a recovery's check, a call
	// to Vargate's own MCP server), concurrently; then the records, in
	// the order the agent made the calls.
	skip := make([]bool, len(uses))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range uses {
		u := &uses[i]
		own := p.ownServer(u.MCPServer)
		if !check && !own {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if check && s.recorded(actx, u.TenantID, u.ToolUseID) {
				skip[i] = true
				return
			}
			if own {
				// A call to Vargate's own MCP server was governed there:
				// it is linked to that record, not recorded again (only
				// one the server never saw is).
				if gov := s.governedAction(actx, u.TenantID, u.SessionID, u.Tool, u.ArgsDigest); gov != "" {
					errs[i] = s.Store.Link(actx, u.SessionID, u.ToolUseID, gov)
					skip[i] = true
				}
			}
		}()
	}
	wg.Wait()
	order := make([]int, 0, len(uses))
	for i := range uses {
		if !skip[i] {
			order = append(order, i)
		}
	}
	// The agent's order: by the time of the call (a batch's results can
	// come in another order than their calls, e.g. parallel tools).
	sort.SliceStable(order, func(a, b int) bool { return uses[order[a]].UsedAt.Before(uses[order[b]].UsedAt) })
	recs := make([]audit.Record, len(order))
	for j, i := range order {
		recs[j] = p.observedRecord(actx, &uses[i])
	}
	for j, err := range s.appendAll(actx, recs) {
		i := order[j]
		if err != nil && rejected(err) {
			// The trail refuses this record for what it holds: a retry
			// would stall the stream on it for good.
			err = p.poisonRecord(actx, &uses[i], err)
		}
		errs[i] = err
	}
	var r auditResult
	for i := range uses {
		if errs[i] != nil {
			if r.err == nil {
				r.err = fmt.Errorf("audit observed tool use: %w", errs[i])
			}
			continue
		}
		r.ok = append(r.ok, uses[i].ToolUseID)
	}
	return r
}

// orderedAuditor is an Auditor that appends many records in order while
// sharing commits; *audit.Log implements it.
type orderedAuditor interface {
	AppendAll(ctx context.Context, recs []audit.Record) ([]audit.Record, []error)
}

// appendAll appends recs to the trail in their order and returns each
// one's error: in one pass through the group commit when the Auditor can,
// else one after another.
func (s *Service) appendAll(ctx context.Context, recs []audit.Record) []error {
	if len(recs) == 0 {
		return nil
	}
	if oa, ok := s.Audit.(orderedAuditor); ok {
		_, errs := oa.AppendAll(ctx, recs)
		return errs
	}
	errs := make([]error, len(recs))
	for i := range recs {
		_, errs[i] = s.Audit.Append(ctx, recs[i])
	}
	return errs
}

// flushAudited marks the audited tool uses in the store.
func (p *processor) flushAudited(ctx context.Context) error {
	if len(p.audited) == 0 {
		return nil
	}
	if err := p.c.s.Store.MarkAudited(ctx, p.st.sess.SessionID, p.audited, p.c.s.now()); err != nil {
		return fmt.Errorf("mark tool uses audited: %w", err)
	}
	p.audited = nil
	return nil
}

// recorded reports whether the trail already holds the observed record
// of a tool use.
func (s *Service) recorded(ctx context.Context, tenantID, toolUseID string) bool {
	if s.AuditReader == nil {
		return false
	}
	recs, err := s.AuditReader.List(ctx, tenantID, audit.Filter{ActionID: toolUseID, Source: audit.SourceMCPObserved, Limit: 1})
	return err == nil && len(recs) > 0
}

// Decision values of observed records.
const (
	// DecisionObserved marks a tool call seen after the fact.
	DecisionObserved = "observed"
	// ActorSystem is the actor of records the consumer writes on its own.
	ActorSystem = "system"
)

// observedRecord is the mcp_observed audit record of a tool use.
func (p *processor) observedRecord(ctx context.Context, u *ToolUse) audit.Record {
	st := p.st
	d := audit.ObservedDetail{
		EventID: u.ToolUseID, ThreadID: u.ThreadID, MCPServer: u.MCPServer,
		EvaluatedPermission: u.Permission, Confirmation: u.Decision, ProcessedAt: u.UsedAt, UsedAt: u.UsedAt,
		ResultEventID: u.ResultEvent, ResultExcerpt: u.ResultExcerpt, IsError: u.IsError, NoResult: u.ResultAt == nil,
	}
	if u.ResultAt != nil {
		d.ResultAt = *u.ResultAt
	}
	detail, _ := json.Marshal(d)
	return audit.Record{
		TenantID: st.sess.TenantID, Time: p.c.s.now(), Source: audit.SourceMCPObserved,
		SessionID: st.sess.SessionID, AgentID: st.sess.AgentID, ActionID: u.ToolUseID,
		Tool: u.Tool, Decision: DecisionObserved, ArgsDigest: u.ArgsDigest, ArgsRedacted: u.InputRedacted,
		ResultDigest: u.ResultDigest, Anomaly: u.Anomaly, Actor: ActorSystem, Detail: detail,
	}
}

// governedAction finds the governed record of a call to Vargate's own MCP
// server with the same session, tool and arguments, and returns its
// action ID ("" when none is found).
func (s *Service) governedAction(ctx context.Context, tenantID, sessionID, tool, digest string) string {
	if s.AuditReader == nil {
		return ""
	}
	recs, err := s.AuditReader.List(ctx, tenantID, audit.Filter{SessionID: sessionID, Source: audit.SourceMCPGoverned, Tool: tool, Limit: 50})
	if err != nil {
		return ""
	}
	for _, r := range recs {
		if r.ArgsDigest == digest && r.ActionID != "" {
			return r.ActionID
		}
	}
	return ""
}

// recordError writes a session.error to the trail (source session).
func (p *processor) recordError(ctx context.Context, ev *wireEvent) {
	st := p.st
	d := audit.SessionErrorDetail{EventID: ev.ID}
	if e := ev.Error; e != nil {
		d.Type, d.Message, d.MCPServerName = e.Type, st.red.text(cut(e.Message, 1000)), e.MCPServerName
		if e.RetryStatus != nil {
			d.RetryStatus = e.RetryStatus.Type
		}
	}
	detail, _ := json.Marshal(d)
	actx, cancel := p.c.s.sideCtx(ctx)
	defer cancel()
	_, err := p.c.s.Audit.Append(actx, audit.Record{
		TenantID: st.sess.TenantID, Source: audit.SourceSession, SessionID: st.sess.SessionID, AgentID: st.sess.AgentID,
		ActionID: ev.ID, Decision: "error", Reasons: []string{d.Type}, Actor: ActorSystem, Detail: detail,
	})
	if err != nil {
		p.log().LogAttrs(ctx, slog.LevelError, "audit session error", slog.String(logKeyEvent, ev.ID), slog.Any(logKeyError, err))
	}
}
