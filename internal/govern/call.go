package govern

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// Status is how a governed call ended: the outcome on its audit record.
type Status = audit.Outcome

// The statuses of an Outcome.
const (
	// Executed: allowed, and the connector answered.
	Executed = audit.OutcomeExecuted
	// Failed: allowed, but the connector failed.
	Failed = audit.OutcomeFailed
	// Denied: the policy (or the gateway, for an unusable configuration)
	// refused the call; nothing ran.
	Denied = audit.OutcomeDenied
	// Pending: queued for a human; nothing ran yet.
	Pending = audit.OutcomePending
	// Invalid: the arguments could not be decoded or do not fit the
	// tool's schema; nothing ran.
	Invalid = audit.OutcomeInvalid
	// Cancelled: the client cancelled or went away before the side
	// effect, or (for an approved action) its session or agent stopped;
	// nothing ran. After the connector started it means the connector was
	// stopped midway.
	Cancelled = audit.OutcomeCancelled
)

// ErrUnknownTool is returned (wrapped, KindNotFound) for a tool the
// tenant does not have.
var ErrUnknownTool = errors.New("unknown tool")

// Outcome is the result of one governed call.
type Outcome struct {
	Status   Status
	ActionID string
	Tool     string
	// Decision is the policy decision (zero for Invalid).
	Decision policy.Decision
	// Result is the connector's answer when Executed.
	Result tools.Result
	// Message explains a Failed, Invalid or Cancelled outcome to the agent.
	Message string
	// Summary describes a queued call for people ("send an email to …").
	Summary string
	// Audit is the call's mcp_governed record, as committed (before the
	// connector ran, for an allowed call).
	Audit audit.Record
	// Finish is the mcp_outcome record of an allowed call, as committed
	// after the connector ran; zero for other calls, and when the Auditor
	// queued it to commit with the next batch (AsyncAuditor).
	Finish audit.Record
}

// Call governs one tool call by principal p. The arguments are decoded
// once (DecodeArgs) and the call's mcp_governed record is committed
// before anything happens outside the gateway: before the connector runs,
// before an approval is queued, before a webhook is sent. If that record
// cannot be written, nothing runs. An allowed call gets a second record,
// mcp_outcome, once the connector is done; with an AsyncAuditor it is
// queued to commit with the next batch rather than waited for (Flush
// waits). A returned Outcome's mcp_governed record is committed already. An error means the call could not be
// governed or recorded and nothing should be answered but a failure;
// ErrUnknownTool (KindNotFound) is one such error.
//
// A ctx that ends (the client cancelled or went away) before the
// connector starts stops the call, recorded as Cancelled; the records are
// written whatever ctx does.
func (g *Governor) Call(ctx context.Context, p vargate.Principal, name string, raw json.RawMessage) (Outcome, error) {
	tr := trace{start: time.Now()}
	if p.Role != vargate.RoleAgent {
		return Outcome{}, vargate.Errorf(vargate.KindForbidden, "only agent credentials may call tools")
	}
	set, err := g.Tools.Set(ctx, p.TenantID)
	if err != nil {
		return Outcome{}, g.gatewayError(ctx, p, name, fmt.Errorf("tool catalog: %w", err))
	}
	tool, ok := set.Lookup(name)
	if !ok {
		if err := g.RecordUnknown(ctx, p, name, raw); err != nil {
			return Outcome{}, err
		}
		return Outcome{}, &vargate.Error{Kind: vargate.KindNotFound, Message: fmt.Sprintf("unknown tool %q", name), Err: ErrUnknownTool}
	}
	out := Outcome{ActionID: uuid.NewString(), Tool: name}
	rec := g.baseRecord(p, out.ActionID, name)
	args, err := DecodeArgs(raw)
	if err != nil {
		rec.ArgsDigest, rec.ArgsRedacted = rawDigest(raw), unreadableMarker(len(raw))
		out.Status, out.Message = Invalid, errMessage(err)
		return g.record(ctx, &out, rec, tr, nil)
	}
	rec.ArgsDigest, rec.ArgsRedacted = args.Digest, args.Stored
	if ctx.Err() != nil {
		out.Status, out.Message = Cancelled, msgCancelledEarly
		return g.record(ctx, &out, rec, tr, nil)
	}
	prep, err := g.prepare(ctx, p, tool, args, out.ActionID, actor(p), false)
	if err != nil {
		if ctx.Err() != nil { // the failure is the cancellation
			out.Status, out.Message = Cancelled, msgCancelledEarly
			return g.record(ctx, &out, rec, tr, nil)
		}
		return Outcome{}, g.gatewayError(ctx, p, name, err)
	}
	tr.policyStart, tr.policyEnd = prep.policyStart, prep.policyEnd
	out.Decision = prep.decision
	if prep.status != "" {
		out.Status, out.Message = prep.status, prep.message
		return g.record(ctx, &out, rec, tr, prep.in)
	}
	if ctx.Err() != nil {
		out.Status, out.Message = Cancelled, msgCancelledEarly
		return g.record(ctx, &out, rec, tr, prep.in)
	}
	switch prep.decision.Decision {
	case policy.Allow:
		return g.execute(ctx, &out, rec, tr, prep)
	case policy.RequireApproval:
		return g.enqueue(ctx, &out, rec, tr, prep, tool, args)
	default:
		out.Status = Denied
		return g.record(ctx, &out, rec, tr, prep.in)
	}
}

// Messages for the agent.
const (
	msgCancelledEarly   = "the call was cancelled before it was carried out; nothing was done"
	msgCancelledRunning = "the call was cancelled while the tool ran; it may or may not have taken effect"
	msgNoQueue          = "this call needs human approval, but the approval queue is not available"
)

// execute runs an allowed call: its record (outcome executing) is
// committed first, then the connector runs, then its mcp_outcome record
// says how it ended.
func (g *Governor) execute(ctx context.Context, out *Outcome, rec audit.Record, tr trace, prep *prepared) (Outcome, error) {
	out.Status = audit.OutcomeExecuting
	if _, err := g.record(ctx, out, rec, tr, prep.in); err != nil {
		return Outcome{}, err
	}
	if out.Status != audit.OutcomeExecuting { // refused by the audit writer
		return *out, nil
	}
	if ctx.Err() != nil {
		out.Status, out.Message = Cancelled, msgCancelledEarly
		return g.finishRecord(ctx, out, tr)
	}
	tr.connStart = time.Now()
	res, err := g.run(ctx, prep.tool, prep.call)
	tr.connEnd = time.Now()
	switch {
	case err != nil && ctx.Err() != nil:
		out.Status, out.Message = Cancelled, msgCancelledRunning
	case err != nil:
		out.Status, out.Message = Failed, errMessage(err)
		g.logConnectorError(ctx, prep.principal, out.Tool, out.ActionID, err)
	default:
		out.Status, out.Result = Executed, res
	}
	return g.finishRecord(ctx, out, tr)
}

// enqueue queues a call that needs approval. Its record (outcome pending)
// is committed first; if the queue then refuses it, an mcp_outcome record
// says it failed.
func (g *Governor) enqueue(ctx context.Context, out *Outcome, rec audit.Record, tr trace, prep *prepared, tool *tools.Tool, args *Args) (Outcome, error) {
	if g.Queue == nil {
		out.Status, out.Message = Failed, msgNoQueue
		return g.record(ctx, out, rec, tr, prep.in)
	}
	out.Status = Pending
	if _, err := g.record(ctx, out, rec, tr, prep.in); err != nil {
		return Outcome{}, err
	}
	if out.Status != Pending { // refused by the audit writer
		return *out, nil
	}
	d, p := prep.decision, prep.principal
	// The record says pending: the queueing must not be abandoned halfway
	// because the client went away.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.auditTimeout())
	defer cancel()
	_, err := g.Queue.Enqueue(qctx, approval.Request{
		ID: out.ActionID, TenantID: p.TenantID, SessionID: p.SessionID, AgentID: p.AgentID, KeyID: p.KeyID, Tool: out.Tool,
		Args: args.Raw, ArgsDigest: args.Digest, ArgsRedacted: args.Stored,
		PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID, Reasons: d.Reasons, Sensitive: len(args.Findings) > 0,
	})
	if err != nil {
		out.Status, out.Message = Failed, "the call could not be queued for approval"
		if _, ferr := g.finishRecord(ctx, out, tr); ferr != nil {
			return Outcome{}, ferr
		}
		return Outcome{}, fmt.Errorf("queue action for approval: %w", err)
	}
	if tool.Summary != nil {
		out.Summary = tool.Summary(args.Raw)
	}
	return *out, nil
}

// prepared is a call checked and decided, ready to act on: the shared
// preparation of Call and ExecuteApproved.
type prepared struct {
	principal vargate.Principal
	cfg       agent.Config
	tool      *tools.Tool
	call      *tools.Call
	in        *policy.Input
	decision  policy.Decision
	// status is set when the call must not go ahead: Denied (an unusable
	// configuration, session or chain), Invalid (arguments that do not
	// fit), Cancelled (an approved action whose session or agent
	// stopped); message says why for Invalid and Cancelled.
	status                 Status
	message                string
	policyStart, policyEnd time.Time
}

// prepare checks and decides a call: the agent configuration (cached, or
// read afresh and checked for liveness when approved is true), the
// arguments against the tool's schema, the policy input and decision, and
// the connector's own checks. An error means the gateway failed; a call
// that must not go ahead comes back with status set.
func (g *Governor) prepare(ctx context.Context, p vargate.Principal, tool *tools.Tool, args *Args, actionID, actor string, approved bool) (*prepared, error) {
	pr := &prepared{principal: p, tool: tool}
	deny := func(reason string) (*prepared, error) {
		pr.status = Denied
		pr.decision = policy.Decision{Decision: policy.Deny, Reasons: []string{reason}}
		return pr, nil
	}
	var err error
	if approved {
		// At the moment it runs, an approved action needs a live session,
		// an agent that is not archived and a tool its current
		// configuration still allows.
		if refused, err := g.stillLive(ctx, p, pr); refused || err != nil {
			return pr, err
		}
		pr.cfg, err = g.Configs.ConfigFor(ctx, p)
	} else {
		pr.cfg, err = g.ConfigFor(ctx, p)
	}
	if err != nil {
		if !unusable(err) {
			return nil, fmt.Errorf("agent configuration of %s: %w", p.AgentID, err)
		}
		// The credential is valid but its configuration is gone: deny,
		// on the record.
		return deny("agent_unavailable: the agent configuration could not be used: " + errMessage(err))
	}
	pr.call = &tools.Call{
		TenantID: p.TenantID, AgentID: p.AgentID, SessionID: p.SessionID, ActionID: actionID,
		Actor: actor, Tool: tool.Name, Args: args.Raw, AllowedDomains: pr.cfg.GovernanceProfile.AllowedDomains,
	}
	if err := tool.ValidateValue(args.Value); err != nil {
		pr.status, pr.message = Invalid, errMessage(err)
		return pr, nil
	}
	pcall, err := policy.NewDecodedCall(tool.Name, args.Raw, args.Value, args.Digest)
	if err != nil {
		pr.status, pr.message = Invalid, errMessage(err)
		return pr, nil
	}
	describeTool(&pcall, tool)
	// A new call is reserved in the session's budget; an approved one was
	// when it was queued.
	pr.in, err = g.input(ctx, p, pr.cfg, pcall, args.Findings, !approved)
	if err != nil {
		if !unusable(err) {
			return nil, err
		}
		pr.in = nil
		return deny("agent_unavailable: the caller's session or delegation chain could not be used: " + errMessage(err))
	}
	pr.policyStart = time.Now()
	d, err := g.Policy.Decide(ctx, pr.in)
	pr.policyEnd = time.Now()
	if err != nil {
		// d is a deny (the engine fails closed); the cause is for operators.
		g.Logger.LogAttrs(ctx, slog.LevelError, "policy evaluation failed; denying",
			slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, tool.Name),
			slog.String(logKeyDecision, d.DecisionID), slog.String(logKeyError, err.Error()))
	}
	pr.decision = d
	if d.Decision != policy.Deny {
		// The connector's own checks: a call that could never run is not
		// worth running or queueing.
		if err := tool.Precheck(pr.call); err != nil {
			pr.status, pr.message = Invalid, errMessage(err)
		}
	}
	return pr, nil
}

// stillLive refuses an approved action whose session ended (Cancelled)
// or whose agent was archived or no longer allows the tool (Denied). It
// reports whether it refused.
func (g *Governor) stillLive(ctx context.Context, p vargate.Principal, pr *prepared) (bool, error) {
	l, ok := g.Configs.(Liveness)
	if !ok {
		return false, nil
	}
	reason, err := l.CheckLive(ctx, p, pr.tool.Name)
	if err != nil {
		return false, fmt.Errorf("check that the action may still run: %w", err)
	}
	if reason == "" {
		return false, nil
	}
	pr.status = Denied
	if strings.HasPrefix(reason, reasonSessionEnded) {
		pr.status, pr.message = Cancelled, reason
	}
	pr.decision = policy.Decision{Decision: policy.Deny, Reasons: []string{reason}}
	return true, nil
}

// reasonSessionEnded starts the Liveness reason of an ended session.
const reasonSessionEnded = "session_ended"

// baseRecord is the start of a call's mcp_governed record.
func (g *Governor) baseRecord(p vargate.Principal, actionID, tool string) audit.Record {
	return audit.Record{
		TenantID: p.TenantID, Time: g.Now(), Source: audit.SourceMCPGoverned, SessionID: p.SessionID, AgentID: p.AgentID,
		ActionID: actionID, Tool: validUTF8(tool, 256), Actor: actor(p),
	}
}

// unreadableMarker is the stored arguments of a call whose arguments
// could not be decoded (their digest is of the raw bytes).
func unreadableMarker(n int) json.RawMessage {
	b, _ := json.Marshal(fmt.Sprintf("[UNREADABLE: %d bytes]", n))
	return b
}

// unusable reports whether err says the caller's configuration, session
// or chain cannot be used (a deny on the record) rather than that the
// gateway failed (an error).
func unusable(err error) bool {
	switch vargate.KindOf(err) {
	case vargate.KindNotFound, vargate.KindForbidden, vargate.KindInvalid:
		return true
	}
	return false
}

// RecordUnknown audits a call of a tool the tenant does not have (a
// probe, or a stale tool list): a deny with reason unknown_tool.
func (g *Governor) RecordUnknown(ctx context.Context, p vargate.Principal, name string, raw json.RawMessage) error {
	out := Outcome{ActionID: uuid.NewString(), Tool: name, Status: Denied,
		Decision: policy.Decision{Decision: policy.Deny, Reasons: []string{fmt.Sprintf("unknown_tool: tenant has no tool %q", validUTF8(name, 256))}}}
	rec := g.baseRecord(p, out.ActionID, name)
	if args, err := DecodeArgs(raw); err == nil {
		rec.ArgsDigest, rec.ArgsRedacted = args.Digest, args.Stored
	} else {
		rec.ArgsDigest, rec.ArgsRedacted = rawDigest(raw), unreadableMarker(len(raw))
	}
	_, err := g.record(ctx, &out, rec, trace{start: time.Now()}, nil)
	return err
}

// input builds the policy input for a call: a new one (reserve, counted
// in the session's budget) or a queued one re-evaluated.
func (g *Governor) input(ctx context.Context, p vargate.Principal, cfg agent.Config, c policy.Call, findings []pii.Finding, reserve bool) (*policy.Input, error) {
	facts := CallerFacts{Session: policy.Session{ID: p.SessionID}}
	if cfg.ParentAgentID != "" {
		facts.DelegationDepth = 1 // at least; Facts knows the whole chain
	}
	if g.Facts != nil {
		var f CallerFacts
		var err error
		if r, ok := g.Facts.(FactsReader); ok && !reserve {
			f, err = r.CurrentFacts(ctx, p)
		} else {
			f, err = g.Facts.Facts(ctx, p)
		}
		if err != nil {
			return nil, fmt.Errorf("session facts: %w", err)
		}
		facts = f
		facts.Session.ID = p.SessionID
	}
	return &policy.Input{
		Tenant:  policy.Tenant{ID: p.TenantID},
		Agent:   g.policyAgent(cfg, facts.DelegationDepth),
		Session: facts.Session,
		Call:    c,
		PII:     findings,
		Time:    g.Now(),
	}, nil
}

// policyAgent returns the agent part of the policy input for a
// configuration at a delegation depth. It is prepared once
// (policy.Agent.Prepare) and reused while the configuration's fields that
// it holds are unchanged.
func (g *Governor) policyAgent(cfg agent.Config, depth int) policy.Agent {
	k := agentKey{tenant: cfg.TenantID, agent: cfg.ID, version: cfg.Version, depth: depth}
	e, ok := g.agents.Get(k, time.Time{})
	if ok && e.matches(cfg) {
		return e.agent
	}
	a := policy.Agent{
		ID:                   cfg.ID,
		AllowedTools:         allowedTools(cfg),
		RequireHumanApproval: slices.Clone(cfg.RequireHumanApproval),
		GovernanceProfile: policy.GovernanceProfile{
			RiskLevel: cfg.GovernanceProfile.RiskLevel, PIIDetection: cfg.GovernanceProfile.PIIDetection,
		},
		Delegation: policy.Delegation{Depth: depth, MaxDepth: cfg.MaxDelegationDepth},
	}
	a.Prepare()
	g.agents.Add(k, agentEntry{agent: a, allowed: slices.Clone(cfg.AllowedTools)}, time.Time{})
	return a
}

// agentKey names one configuration version at one delegation depth.
type agentKey struct {
	tenant, agent  string
	version, depth int
}

// agentEntry is a prepared agent and the configuration it was made from.
type agentEntry struct {
	agent   policy.Agent
	allowed []string // the configuration's own allowed_tools
}

// matches reports whether e was made from cfg's values.
func (e *agentEntry) matches(cfg agent.Config) bool {
	a := &e.agent
	return slices.Equal(e.allowed, cfg.AllowedTools) && slices.Equal(a.RequireHumanApproval, cfg.RequireHumanApproval) &&
		a.GovernanceProfile.RiskLevel == cfg.GovernanceProfile.RiskLevel &&
		a.GovernanceProfile.PIIDetection == cfg.GovernanceProfile.PIIDetection &&
		a.Delegation.MaxDepth == cfg.MaxDelegationDepth
}

// run executes the connector under the call timeout. A panic in a
// connector is a failed call, not a dead gateway.
func (g *Governor) run(ctx context.Context, tool *tools.Tool, call *tools.Call) (res tools.Result, err error) {
	timeout := g.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("connector %s panicked: %v", tool.Name, v)
		}
	}()
	return tool.Connector.Call(ctx, call)
}

// trace holds the timings of one call.
type trace struct {
	start, policyStart, policyEnd, connStart, connEnd time.Time
}

func micros(a, b time.Time) int64 {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a).Microseconds()
}

// record writes the call's mcp_governed record with out's status as its
// outcome, tells Facts of the decision, emits action.denied for a deny,
// and returns the outcome. If the audit writer refuses the record (a
// value it cannot store), a refusal record is written in its place and
// the outcome becomes Invalid: the caller must check out.Status before
// acting. An error means nothing could be recorded.
func (g *Governor) record(ctx context.Context, out *Outcome, rec audit.Record, tr trace, in *policy.Input) (Outcome, error) {
	d := out.Decision
	rec.Decision, rec.PolicyVersion, rec.DecisionID = d.Decision, d.PolicyVersion, d.DecisionID
	rec.Reasons = clampReasons(d.Reasons)
	rec.Outcome = out.Status
	switch out.Status {
	case Invalid:
		rec.Decision = policy.Deny
		rec.Reasons = []string{"invalid_arguments: " + validUTF8(out.Message, 1000)}
	case Cancelled:
		rec.Reasons = append(rec.Reasons, "cancelled: "+validUTF8(out.Message, 1000))
	}
	detail := audit.GovernedDetail{
		Error: validUTF8(out.Message, 4000),
		Latency: audit.Latency{
			PolicyUS: micros(tr.policyStart, tr.policyEnd),
			TotalUS:  time.Since(tr.start).Microseconds(),
		},
	}
	if in != nil {
		// The input the policy saw, for replay; its arguments are the
		// record's args_redacted, stored once.
		ri := *in
		ri.Call.Arguments = nil
		detail.Input = &ri
	}
	var err error
	if rec.Detail, err = detail.EncodeDetail(); err != nil {
		return Outcome{}, fmt.Errorf("encode audit detail: %w", err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.auditTimeout())
	defer cancel()
	out.Audit, err = g.Audit.Append(actx, rec)
	if vargate.IsKind(err, vargate.KindInvalid) {
		// The record holds something the trail cannot store: refuse the
		// call, on a record that can be stored.
		g.Logger.LogAttrs(ctx, slog.LevelError, "governed call refused: its audit record cannot be written",
			slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		out.Status, out.Message = Invalid, "the call cannot be recorded: "+errMessage(err)
		out.Decision = policy.Decision{}
		rec = audit.Record{
			TenantID: rec.TenantID, Time: rec.Time, Source: rec.Source, SessionID: rec.SessionID, AgentID: rec.AgentID,
			ActionID: rec.ActionID, Tool: rec.Tool, Actor: rec.Actor, ArgsDigest: rec.ArgsDigest,
			ArgsRedacted: unreadableMarker(-1), Decision: policy.Deny, Outcome: Invalid,
			Reasons: []string{"unrecordable: " + validUTF8(errMessage(err), 1000)},
		}
		out.Audit, err = g.Audit.Append(actx, rec)
	}
	if err != nil {
		g.Logger.LogAttrs(ctx, slog.LevelError, "cannot audit governed call",
			slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyTool, rec.Tool),
			slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		return Outcome{}, fmt.Errorf("audit governed call: %w", err)
	}
	if o, ok := g.Facts.(DecisionObserver); ok && rec.SessionID != "" && in != nil {
		if err := o.Decided(actx, rec.TenantID, rec.SessionID, rec.Decision); err != nil {
			g.Logger.LogAttrs(ctx, slog.LevelError, "cannot count the session's decision",
				slog.String(logKeyTenant, rec.TenantID), slog.String(logKeySession, rec.SessionID), slog.String(logKeyError, err.Error()))
		}
	}
	if out.Status == Denied && g.Events != nil {
		data := map[string]any{
			"action_id": out.ActionID, "tool": out.Tool, "session_id": rec.SessionID, "agent_id": rec.AgentID,
			"reasons": rec.Reasons, "policy_version": rec.PolicyVersion, "decision_id": rec.DecisionID,
			"arguments": rec.ArgsRedacted, "audit_seq": out.Audit.Seq,
		}
		if err := g.Events.Emit(actx, rec.TenantID, EventDenied, data); err != nil {
			// The denial is on the record; a lost notification is logged.
			g.Logger.LogAttrs(ctx, slog.LevelError, "cannot emit webhook",
				slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		}
	}
	return *out, nil
}

// finishRecord writes the mcp_outcome record of a call whose
// mcp_governed record (out.Audit) is committed: how it ended.
func (g *Governor) finishRecord(ctx context.Context, out *Outcome, tr trace) (Outcome, error) {
	gov := &out.Audit
	rec := audit.Record{
		TenantID: gov.TenantID, Time: g.Now(), Source: audit.SourceMCPOutcome, SessionID: gov.SessionID, AgentID: gov.AgentID,
		ActionID: gov.ActionID, Tool: gov.Tool, Actor: gov.Actor, ArgsDigest: gov.ArgsDigest, Outcome: out.Status,
	}
	if out.Status == Executed {
		rec.ResultDigest = resultDigest(out.Result)
	}
	if out.Status == Cancelled {
		rec.Reasons = []string{"cancelled: " + validUTF8(out.Message, 1000)}
	}
	detail := audit.OutcomeDetail{
		Error: validUTF8(out.Message, 4000),
		Latency: audit.Latency{
			PolicyUS:    micros(tr.policyStart, tr.policyEnd),
			ConnectorUS: micros(tr.connStart, tr.connEnd),
			TotalUS:     time.Since(tr.start).Microseconds(),
		},
	}
	var err error
	if rec.Detail, err = detail.EncodeDetail(); err != nil {
		return Outcome{}, fmt.Errorf("encode audit detail: %w", err)
	}
	if a, ok := g.Audit.(AsyncAuditor); ok {
		// Committed with the next batch; the answer does not wait.
		g.outcomes.Add(1)
		err := a.AppendAsync(rec, func(r audit.Record, err error) {
			defer g.outcomes.Done()
			if err != nil {
				g.Logger.LogAttrs(context.Background(), slog.LevelError, "cannot audit the outcome of a governed call",
					slog.String(logKeyTenant, r.TenantID), slog.String(logKeyAction, r.ActionID), slog.String(logKeyError, err.Error()))
			}
		})
		if err == nil {
			return *out, nil
		}
		g.outcomes.Done() // not queued: append and wait below
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.auditTimeout())
	defer cancel()
	if out.Finish, err = g.Audit.Append(actx, rec); err != nil {
		g.Logger.LogAttrs(ctx, slog.LevelError, "cannot audit the outcome of a governed call",
			slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyTool, rec.Tool),
			slog.String(logKeyAction, rec.ActionID), slog.String(logKeyError, err.Error()))
		return Outcome{}, fmt.Errorf("audit governed call outcome: %w", err)
	}
	return *out, nil
}

// clampReasons keeps a policy's reasons within what a record stores.
func clampReasons(rs []string) []string {
	if len(rs) > audit.MaxReasons-1 { // room for one reason of the gateway's own
		rs = rs[:audit.MaxReasons-1]
	}
	var out []string
	for i, r := range rs {
		if c := validUTF8(r, audit.MaxReasonBytes); c != r {
			if out == nil {
				out = append([]string(nil), rs...)
			}
			out[i] = c
		}
	}
	if out != nil {
		return out
	}
	return rs
}

func (g *Governor) auditTimeout() time.Duration {
	if g.AuditTimeout > 0 {
		return g.AuditTimeout
	}
	return DefaultAuditTimeout
}

// resultDigest is the SHA-256 of what the agent is sent as structured content.
func resultDigest(r tools.Result) string {
	b := r.Structured
	if len(b) == 0 {
		b = []byte(r.Text)
	}
	return audit.BytesDigest(b)
}

// actor is the credential that made the call.
func actor(p vargate.Principal) string {
	if p.KeyID != "" {
		return p.KeyID
	}
	return p.SessionID
}

// errMessage is what the agent is told about err: the message of a
// vargate error, a generic text for anything else.
func errMessage(err error) string {
	var ve *vargate.Error
	if errors.As(err, &ve) && ve.Kind != vargate.KindInternal {
		msg := ve.Message
		if ve.Field != "" && ve.Field != "arguments" {
			msg = ve.Field + ": " + msg
		}
		return msg
	}
	return "the tool failed; the action ID identifies it in the gateway's log"
}

// gatewayError logs a failure of the gateway that stopped a call before
// anything was decided or run (the audit writer's failures are logged
// where they happen), and returns it: the one log line of that error.
func (g *Governor) gatewayError(ctx context.Context, p vargate.Principal, tool string, err error) error {
	g.Logger.LogAttrs(ctx, slog.LevelError, "governed call failed before its decision",
		slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, validUTF8(tool, 256)), slog.String(logKeyError, err.Error()))
	return err
}

func (g *Governor) logConnectorError(ctx context.Context, p vargate.Principal, tool, actionID string, err error) {
	level := slog.LevelWarn
	if vargate.KindOf(err) == vargate.KindInternal {
		level = slog.LevelError
	}
	g.Logger.LogAttrs(ctx, level, "governed tool failed",
		slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, tool),
		slog.String(logKeyAction, actionID), slog.String(logKeyError, err.Error()))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
