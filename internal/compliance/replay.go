package compliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
)

// ReplayFormat names the version of the replay report's layout.
const ReplayFormat = "vargate.compliance.replay.v1"

// DraftLabel is the policy version label of a draft sent with a replay.
const DraftLabel = "draft"

// Sources of the policy a replay evaluates against.
const (
	PolicyActive  = "active"
	PolicyVersion = "version"
	PolicyDraft   = "draft"
)

// Reasons a governed record is not replayed.
const (
	// SkipNoInput: the record keeps no policy input (an unknown tool, an
	// unusable agent configuration, a built-in tool call denied for its
	// anomaly verdict or for a failure before the policy was asked).
	SkipNoInput = "no_recorded_input"
	// SkipInvalidArguments: the call was refused for its arguments, so the
	// recorded decision is not the policy's.
	SkipInvalidArguments = "invalid_arguments"
	// SkipNoDecision: the record holds no allow, deny or require_approval.
	SkipNoDecision = "no_policy_decision"
	// SkipUnreadableInput: the recorded input does not parse.
	SkipUnreadableInput = "unreadable_input"
	// SkipNotScored: an observed call that was not scored (calls to the
	// gateway's own MCP server are governed there instead).
	SkipNotScored = "not_scored"
)

// ReplayRequest chooses the policy to replay against: a stored version
// (PolicyVersion), a draft (Modules, compiled for this replay and never
// stored or activated), or, with neither, the tenant's active version.
type ReplayRequest struct {
	PolicyVersion string            `json:"policy_version,omitempty"`
	Modules       map[string]string `json:"modules,omitempty"`
}

// TenantReplayRequest replays a tenant's records with Time in [From, To).
// A zero To is now; a zero From is DefaultReplayRange before To.
type TenantReplayRequest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	ReplayRequest
}

// ReplayPolicy says which policy a replay evaluated.
type ReplayPolicy struct {
	// Source is PolicyActive, PolicyVersion or PolicyDraft.
	Source  string `json:"source"`
	Version string `json:"version"`
	// Activated is always false: a replay never activates anything.
	Activated bool `json:"activated"`
}

// DecisionView is a decision as a replay reports it.
type DecisionView struct {
	Decision      string   `json:"decision"`
	Reasons       []string `json:"reasons"`
	PolicyVersion string   `json:"policy_version"`
	DecisionID    string   `json:"decision_id,omitempty"`
}

// DecisionChange is a governed call whose decision the replayed policy
// changes (or could not reach: Error).
type DecisionChange struct {
	Seq       int64        `json:"seq"`
	Time      time.Time    `json:"time"`
	SessionID string       `json:"session_id,omitempty"`
	ActionID  string       `json:"action_id"`
	Tool      string       `json:"tool"`
	Original  DecisionView `json:"original"`
	Replayed  DecisionView `json:"replayed"`
	Error     string       `json:"error,omitempty"`
}

// AnomalyView is an anomaly verdict as a replay reports it.
type AnomalyView struct {
	Flagged    bool     `json:"flagged"`
	Severity   string   `json:"severity"`
	Categories []string `json:"categories"`
	Score      float64  `json:"score"`
}

// AnomalyChange is an observed call whose verdict the current rules change.
type AnomalyChange struct {
	Seq       int64       `json:"seq"`
	Time      time.Time   `json:"time"`
	SessionID string      `json:"session_id,omitempty"`
	ActionID  string      `json:"action_id"`
	Tool      string      `json:"tool"`
	Original  AnomalyView `json:"original"`
	Replayed  AnomalyView `json:"replayed"`
}

// ObservedReplay is the re-scoring of observed calls.
type ObservedReplay struct {
	Changes         []AnomalyChange `json:"changes"`
	TotalRescored   int64           `json:"total_rescored"`
	Consistent      int64           `json:"consistent"`
	Changed         int64           `json:"changed"`
	NewlyFlagged    int64           `json:"newly_flagged"`
	NoLongerFlagged int64           `json:"no_longer_flagged"`
	Skipped         int64           `json:"skipped"`
}

// ReplayReport is a whole replay, for reading one back. Writers stream it
// (Replay.WriteJSON). Changes are in seq order.
type ReplayReport struct {
	Format                string       `json:"format"`
	TenantID              string       `json:"tenant_id"`
	SessionID             string       `json:"session_id,omitempty"`
	From                  *time.Time   `json:"from,omitempty"`
	To                    *time.Time   `json:"to,omitempty"`
	ReplayedAt            time.Time    `json:"replayed_at"`
	Policy                ReplayPolicy `json:"policy"`
	ReplayedPolicyVersion string       `json:"replayed_policy_version"`
	// Changes lists every replayed call whose decision changed or whose
	// replay failed.
	Changes []DecisionChange `json:"changes"`
	// OriginalPolicyVersions counts the replayed calls by the version
	// that decided them.
	OriginalPolicyVersions map[string]int64 `json:"original_policy_versions"`
	// TotalReplayed is Consistent + Changed + Errors.
	TotalReplayed int64 `json:"total_replayed"`
	Consistent    int64 `json:"consistent"`
	Changed       int64 `json:"changed"`
	Errors        int64 `json:"errors"`
	// Transitions counts changes by "original→replayed" decision.
	Transitions    map[string]int64 `json:"transitions"`
	Skipped        int64            `json:"skipped"`
	SkippedReasons map[string]int64 `json:"skipped_reasons"`
	Observed       ObservedReplay   `json:"observed"`
	// Incomplete, when set, says why the replay stopped early (its time
	// budget ran out); the counts cover what it did.
	Incomplete string `json:"incomplete,omitempty"`
}

// Replay is a prepared replay, ready to be run and written.
type Replay struct {
	s          *Service
	tenantID   string
	sessionID  string
	from, to   time.Time
	policy     ReplayPolicy
	version    *policy.Version
	detectors  *detectors
	records    func(ctx context.Context, src audit.Source, fn func(*audit.Record) error) error
	replayedAt time.Time
	// observedSeen is set when a session pass meets an observed record,
	// so a session without any is read once rather than twice.
	observedSeen bool
	// release gives back the tenant's replay slot.
	release func()
	// incomplete says why the replay stopped early (its budget ran out).
	incomplete string
}

// ReplaySession prepares a replay of the tenant's session.
func (s *Service) ReplaySession(ctx context.Context, tenantID, sessionID string, req ReplayRequest) (*Replay, error) {
	if s.Sessions == nil || s.Records == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "policy replay is not configured")
	}
	sess, err := s.Sessions.Get(ctx, tenantID, sessionID)
	if err != nil {
		return nil, err
	}
	if sess.TenantID != tenantID {
		return nil, vargate.NotFound("session " + sessionID)
	}
	r, err := s.prepareReplay(ctx, tenantID, req)
	if err != nil {
		return nil, err
	}
	r.sessionID = sess.ID
	var governedPass bool
	r.records = func(ctx context.Context, src audit.Source, fn func(*audit.Record) error) error {
		if src == audit.SourceMCPObserved && governedPass && !r.observedSeen {
			return nil // the governed pass read every record and saw none
		}
		err := s.sessionRecords(ctx, tenantID, sess.ID, 1<<62, func(rec *audit.Record) error {
			if rec.Source == audit.SourceMCPObserved {
				r.observedSeen = true
			}
			if rec.Source != src {
				return nil
			}
			return fn(rec)
		})
		governedPass = governedPass || (err == nil && src == audit.SourceMCPGoverned)
		return err
	}
	if err := r.probe(ctx); err != nil {
		r.Release()
		return nil, err
	}
	governedPass, r.observedSeen = false, false
	return r, nil
}

// ReplayTenant prepares a replay of the tenant's records in a time range,
// to try a policy on past traffic before activating it.
func (s *Service) ReplayTenant(ctx context.Context, tenantID string, req TenantReplayRequest) (*Replay, error) {
	if s.Audit == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "policy replay is not configured")
	}
	to, from := req.To, req.From
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-DefaultReplayRange)
	}
	if !from.Before(to) {
		return nil, vargate.Invalid("from", "must be before to")
	}
	r, err := s.prepareReplay(ctx, tenantID, req.ReplayRequest)
	if err != nil {
		return nil, err
	}
	r.from, r.to = from.UTC(), to.UTC()
	r.records = func(ctx context.Context, src audit.Source, fn func(*audit.Record) error) error {
		return s.tenantRecords(ctx, tenantID, audit.Filter{Source: src, Since: r.from, Until: r.to}, fn)
	}
	if err := r.probe(ctx); err != nil {
		r.Release()
		return nil, err
	}
	return r, nil
}

// prepareReplay resolves the policy to evaluate against.
func (s *Service) prepareReplay(ctx context.Context, tenantID string, req ReplayRequest) (_ *Replay, err error) {
	if s.Policy == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "policy replay is not configured")
	}
	release, err := s.acquireReplay(tenantID)
	if err != nil {
		return nil, err
	}
	r := &Replay{s: s, tenantID: tenantID, replayedAt: s.now(), detectors: newDetectors(s), release: release}
	defer func() {
		if err != nil {
			release()
		}
	}()
	switch {
	case req.Modules != nil && req.PolicyVersion != "":
		return nil, vargate.Invalid("modules", "give policy_version or modules, not both")
	case req.Modules != nil:
		// A draft is compiled (and its tests run) for this replay only: it
		// is never stored, and nothing is activated.
		if r.version, err = policy.Compile(ctx, DraftLabel, req.Modules); err != nil {
			return nil, err
		}
		r.policy = ReplayPolicy{Source: PolicyDraft, Version: DraftLabel}
	case req.PolicyVersion != "":
		r.version, err = s.Policy.Version(ctx, tenantID, req.PolicyVersion)
		if vargate.IsKind(err, vargate.KindNotFound) {
			return nil, vargate.Invalid("policy_version", "the tenant has no policy version %q", req.PolicyVersion)
		}
		if err != nil {
			return nil, fmt.Errorf("load policy version %s: %w", req.PolicyVersion, err)
		}
		r.policy = ReplayPolicy{Source: PolicyVersion, Version: r.version.Label}
	default:
		if r.version, err = s.Policy.ActiveVersion(ctx, tenantID); err != nil {
			return nil, fmt.Errorf("load active policy: %w", err)
		}
		r.policy = ReplayPolicy{Source: PolicyActive, Version: r.version.Label}
	}
	return r, nil
}

// governedResult is the replay of one governed record.
type governedResult struct {
	skip     string
	replayed policy.Decision
	err      error
	// policy is the policy's own decision when the recorded one was made
	// stricter by something else (a built-in tool call's anomaly
	// verdict): the replay is compared with it.
	policy *recordedPolicy
}

// recordedPolicy is the policy's own part of a stricter recorded decision.
type recordedPolicy struct {
	Decision string   `json:"decision"`
	Reasons  []string `json:"reasons"`
}

// replayOne evaluates a governed record's recorded input.
func (r *Replay) replayOne(ctx context.Context, rec *audit.Record) governedResult {
	if !policyDecision(rec.Decision) {
		return governedResult{skip: SkipNoDecision}
	}
	var d struct {
		Outcome string          `json:"outcome"`
		Input   *policy.Input   `json:"input"`
		Policy  *recordedPolicy `json:"policy"`
	}
	if len(rec.Detail) > 0 {
		if err := json.Unmarshal(rec.Detail, &d); err != nil {
			return governedResult{skip: SkipUnreadableInput}
		}
	}
	if rec.Outcome != "" {
		d.Outcome = string(rec.Outcome)
	}
	switch {
	case d.Outcome == outcomeInvalidArguments:
		return governedResult{skip: SkipInvalidArguments}
	case d.Input == nil:
		return governedResult{skip: SkipNoInput}
	}
	// The input is the tenant's own record; the tenant is not taken
	// from it. Its arguments are stored once, as args_redacted.
	d.Input.Tenant.ID = rec.TenantID
	if len(d.Input.Call.Arguments) == 0 || string(d.Input.Call.Arguments) == "null" {
		d.Input.Call.Arguments = rec.ArgsRedacted
	}
	var dec policy.Decision
	var err error
	for range replayAttempts {
		dec, err = r.s.Policy.Evaluate(ctx, r.version, d.Input)
		if err == nil || !timedOut(dec) || ctx.Err() != nil {
			break
		}
		// The engine's per-decision timeout is for live calls; a replay
		// is not in a hurry, and a loaded machine should not show up as
		// errors.
	}
	return governedResult{replayed: dec, err: err, policy: d.Policy}
}

// replayAttempts bounds the evaluations of one record that time out.
const replayAttempts = 3

func timedOut(d policy.Decision) bool {
	return len(d.Reasons) == 1 && strings.HasPrefix(d.Reasons[0], "policy_timeout")
}

// WriteJSON runs the replay and streams its report. Governed records are
// evaluated in parallel a page at a time and reported in seq order; then
// observed records are re-scored. After an error the output is incomplete
// and must be discarded.
func (r *Replay) WriteJSON(ctx context.Context, w io.Writer) error {
	defer r.Release()
	// The budget bounds the evaluation; when it runs out the report is
	// finished with what was done and says so ("incomplete"). A client
	// that leaves cancels ctx, which stops the evaluation at once.
	ctx, cancel := context.WithTimeoutCause(ctx, r.s.replayBudget(), errBudget)
	defer cancel()
	out := newStream(w)
	out.beginObject()
	out.field("format", ReplayFormat)
	out.field("tenant_id", r.tenantID)
	if r.sessionID != "" {
		out.field("session_id", r.sessionID)
	} else {
		out.field("from", r.from)
		out.field("to", r.to)
	}
	out.field("replayed_at", r.replayedAt)
	out.field("policy", r.policy)
	out.field("replayed_policy_version", r.policy.Version)

	rep := ReplayReport{OriginalPolicyVersions: map[string]int64{}, Transitions: map[string]int64{}, SkippedReasons: map[string]int64{}}
	out.arrayField("changes")
	if err := r.governed(ctx, &rep, func(c DecisionChange) error {
		out.elem(c)
		return out.err
	}); err != nil {
		return err
	}
	out.endArray()
	out.field("original_policy_versions", rep.OriginalPolicyVersions)
	out.field("total_replayed", rep.TotalReplayed)
	out.field("consistent", rep.Consistent)
	out.field("changed", rep.Changed)
	out.field("errors", rep.Errors)
	out.field("transitions", rep.Transitions)
	out.field("skipped", rep.Skipped)
	out.field("skipped_reasons", rep.SkippedReasons)

	out.objectField("observed")
	out.arrayField("changes")
	obs := &rep.Observed
	if r.incomplete == "" {
		if err := r.observed(ctx, obs, func(c AnomalyChange) error {
			out.elem(c)
			return out.err
		}); err != nil {
			if !budgetSpent(ctx) {
				return err
			}
			r.incomplete = fmt.Sprintf("the replay's time budget (%s) ran out while re-scoring observed calls", r.s.replayBudget())
		}
	}
	out.endArray()
	out.field("total_rescored", obs.TotalRescored)
	out.field("consistent", obs.Consistent)
	out.field("changed", obs.Changed)
	out.field("newly_flagged", obs.NewlyFlagged)
	out.field("no_longer_flagged", obs.NoLongerFlagged)
	out.field("skipped", obs.Skipped)
	out.endObject()
	if r.incomplete != "" {
		out.field("incomplete", r.incomplete)
	}

	out.endObject()
	out.raw("\n")
	return out.flush()
}

// governed replays every governed record, tallying into rep and passing
// each change to emit in seq order.
func (r *Replay) governed(ctx context.Context, rep *ReplayReport, emit func(DecisionChange) error) error {
	n := r.s.pageSize()
	batch := make([]audit.Record, 0, n)
	results := make([]governedResult, n)
	flush := func() error {
		r.evaluate(ctx, batch, results)
		if budgetSpent(ctx) {
			// What this batch evaluated after the budget ran out is not a
			// decision; the report ends before it.
			r.incomplete = fmt.Sprintf("the replay's time budget (%s) ran out after %d governed records; narrow from/to", r.s.replayBudget(), rep.TotalReplayed+rep.Skipped)
			return errStop
		}
		for i := range batch {
			if err := r.tally(ctx, rep, &batch[i], results[i], emit); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return ctx.Err()
	}
	err := r.records(ctx, audit.SourceMCPGoverned, func(rec *audit.Record) error {
		batch = append(batch, rec.Clone())
		if len(batch) == n {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case errors.Is(err, errStop) || (err != nil && budgetSpent(ctx) && r.incomplete != ""):
		return nil
	case err != nil && budgetSpent(ctx):
		r.incomplete = fmt.Sprintf("the replay's time budget (%s) ran out after %d governed records; narrow from/to", r.s.replayBudget(), rep.TotalReplayed+rep.Skipped)
		return nil
	case err != nil:
		return fmt.Errorf("replay governed records: %w", err)
	}
	return nil
}

// evaluate replays batch into results with the service's workers.
func (r *Replay) evaluate(ctx context.Context, batch []audit.Record, results []governedResult) {
	workers := min(r.s.workers(), len(batch))
	if workers <= 1 {
		for i := range batch {
			if ctx.Err() != nil {
				return
			}
			results[i] = r.replayOne(ctx, &batch[i])
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= len(batch) || ctx.Err() != nil {
					return
				}
				results[j] = r.replayOne(ctx, &batch[j])
			}
		})
	}
	wg.Wait()
}

func (r *Replay) tally(ctx context.Context, rep *ReplayReport, rec *audit.Record, res governedResult, emit func(DecisionChange) error) error {
	if res.skip != "" {
		rep.Skipped++
		rep.SkippedReasons[res.skip]++
		return nil
	}
	rep.TotalReplayed++
	rep.OriginalPolicyVersions[rec.PolicyVersion]++
	original := DecisionView{Decision: rec.Decision, Reasons: nonNilStrings(rec.Reasons), PolicyVersion: rec.PolicyVersion, DecisionID: rec.DecisionID}
	if res.policy != nil {
		original.Decision, original.Reasons = res.policy.Decision, nonNilStrings(res.policy.Reasons)
	}
	c := DecisionChange{
		Seq: rec.Seq, Time: rec.Time, ActionID: rec.ActionID, Tool: rec.Tool,
		Original: original,
		Replayed: DecisionView{Decision: res.replayed.Decision, Reasons: nonNilStrings(res.replayed.Reasons), PolicyVersion: res.replayed.PolicyVersion},
	}
	if r.sessionID == "" {
		c.SessionID = rec.SessionID
	}
	switch {
	case res.err != nil:
		// The engine failed closed; the cause is for the operator's log.
		rep.Errors++
		c.Error = "the policy could not evaluate the recorded input"
		r.s.Logger.LogAttrs(ctx, slog.LevelWarn, "replay evaluation failed",
			slog.String(logKeyTenant, rec.TenantID), slog.Int64(logKeySeq, rec.Seq), slog.String(logKeyError, res.err.Error()))
	case res.replayed.Decision == original.Decision:
		rep.Consistent++
		return nil
	default:
		rep.Changed++
		rep.Transitions[original.Decision+"→"+res.replayed.Decision]++
	}
	return emit(c)
}

// Log attribute keys.
const (
	logKeyTenant = "tenant_id"
	logKeySeq    = "seq"
	logKeyError  = "error"
)

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// tenantRecords calls fn with the tenant's records matching f (Limit and
// BeforeSeq ignored), oldest first. It lists their seqs first (newest
// first, 8 bytes each), then reads the records back a page at a time from
// the oldest, so only one page of records is held.
func (s *Service) tenantRecords(ctx context.Context, tenantID string, f audit.Filter, fn func(*audit.Record) error) error {
	st := s.Audit.Store
	var seqs []int64
	f.Limit, f.BeforeSeq = audit.MaxListLimit, 0
	for {
		page, err := st.List(ctx, tenantID, f)
		if err != nil {
			return err
		}
		for i := range page {
			seqs = append(seqs, page[i].Seq)
		}
		if len(page) == 0 {
			break
		}
		f.BeforeSeq = page[len(page)-1].Seq
	}
	for hi := len(seqs); hi > 0; {
		lo := max(0, hi-audit.MaxListLimit)
		f.BeforeSeq, f.Limit = seqs[lo]+1, hi-lo
		page, err := st.List(ctx, tenantID, f)
		if err != nil {
			return err
		}
		for i := len(page) - 1; i >= 0; i-- {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		hi = lo
	}
	return nil
}
