package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

// state is a consumer's view of its session during one connection,
// loaded from the store when the connection starts.
type state struct {
	sess  Session
	score *anomaly.SessionScore
	det   *anomaly.Detector
	red   redactor
	seen  map[string]time.Time // event ID → processed_at, of events from seenFrom on
	// seenFrom is the processed_at from which seen holds every stored
	// event; an older event (a thread's history, a late delivery) is
	// looked up in the store.
	seenFrom time.Time
	uses     map[string]*use // tool uses not yet audited
	calls    int
	denials  int
	// interrupted is set once a user.interrupt was seen: the next idle
	// ends the session as interrupted.
	interrupted bool
	lastError   string
	finished    bool
}

// maxSeen bounds the seen set of a long session: older IDs are dropped
// and looked up in the store if they come again.
const maxSeen = 100_000

// prune drops the seen IDs of events older than twice the slack before
// the cursor once the set grows past maxSeen.
func (st *state) prune(slack time.Duration) {
	if len(st.seen) <= maxSeen || st.sess.Cursor.IsZero() {
		return
	}
	cutoff := st.sess.Cursor.Add(-2 * slack)
	for id, at := range st.seen {
		if at.Before(cutoff) {
			delete(st.seen, id)
		}
	}
	if cutoff.After(st.seenFrom) {
		st.seenFrom = cutoff
	}
}

// use is a tool use in flight.
type use struct {
	ToolUse
	// input is the raw input of an undecided confirmation request (only
	// those: it may hold what the redacted copy hides).
	input json.RawMessage
}

// load reads the session's state for a new connection.
func (c *consumer) load(ctx context.Context) (*state, error) {
	sess, err := c.s.Store.Get(ctx, c.tenantID, c.sessionID)
	if err != nil {
		return nil, fmt.Errorf("load observed session: %w", err)
	}
	level, err := anomaly.ParseRiskLevel(sess.RiskLevel)
	if err != nil {
		level = anomaly.RiskStrict // fail closed on a level we do not know
	}
	st := &state{
		sess:        sess,
		score:       anomaly.NewSessionScore(level),
		det:         anomaly.New(anomaly.Config{AllowedDomains: sess.AllowedDomains}),
		red:         redactor{all: sess.PIIDetection},
		seen:        map[string]time.Time{},
		uses:        map[string]*use{},
		interrupted: sess.InterruptEvent != "",
	}
	if sess.Score > 0 {
		st.score.Add(anomaly.Verdict{Score: sess.Score}, sess.ScoreAt)
	}
	since := time.Time{}
	if !sess.Cursor.IsZero() {
		since = sess.Cursor.Add(-2 * c.s.historySlack())
	}
	ids, err := c.s.Store.EventIDsSince(ctx, c.sessionID, since)
	if err != nil {
		return nil, fmt.Errorf("load seen events: %w", err)
	}
	for _, id := range ids {
		st.seen[id] = sess.Cursor
	}
	st.seenFrom = since
	open, err := c.s.Store.OpenToolUses(ctx, c.sessionID)
	if err != nil {
		return nil, fmt.Errorf("load open tool uses: %w", err)
	}
	for _, tu := range open {
		st.uses[tu.ToolUseID] = &use{ToolUse: tu}
	}
	return st, nil
}

// processor handles the events of one connection in batches: each batch
// is stored in one transaction with the tool uses and progress it
// changed, then its side effects run (audit records, decisions,
// interrupts, lifecycle).
type processor struct {
	c      *consumer
	st     *state
	client *anthropic.Client
	sctx   context.Context // the connection's context, for thread readers
	send   func(item) bool

	// audited are tool uses audited but not yet marked so in the store.
	audited []string
	// inflight is the outcome of the audit running in the background.
	inflight chan auditResult

	threadMu      sync.Mutex
	threads       map[string]bool
	threadsClosed bool
	threadsWG     sync.WaitGroup
}

func (p *processor) log() *slog.Logger { return p.c.log() }

// run handles batches from in until it is closed.
func (p *processor) run(ctx context.Context, in <-chan item) error {
	if err := p.recover(ctx); err != nil {
		return err
	}
	batch := make([]item, 0, p.c.s.maxBatch())
	for {
		maxBatch := p.c.s.maxBatch()
		if p.c.isolating() {
			maxBatch = 1 // after a refused batch: find the event the store refuses
		}
		var it item
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok = <-in:
		}
		if !ok {
			return nil
		}
		batch = append(batch[:0], it)
		closed := false
	drain:
		for len(batch) < maxBatch {
			select {
			case it, ok := <-in:
				if !ok {
					closed = true
					break drain
				}
				batch = append(batch, it)
			default:
				break drain
			}
		}
		if err := p.handle(ctx, batch); err != nil {
			return err
		}
		if closed || len(batch) < maxBatch {
			// Caught up with the stream: finish the audit and write the
			// marks now rather than with a batch that may be long in
			// coming.
			if err := p.waitAudit(); err != nil {
				return err
			}
			if err := p.flushAudited(ctx); err != nil {
				return err
			}
		}
		if closed {
			return nil
		}
	}
}

// recover completes what a previous connection or process left undone:
// a lifecycle step stored but not taken, tool uses with a result but no
// audit record, confirmation requests not answered.
func (p *processor) recover(ctx context.Context) error {
	st := p.st
	if st.sess.PendingStep != "" {
		if err := p.lifecycle(ctx, st.sess.PendingStep); err != nil {
			return err
		}
	}
	if s := p.c.s; s.Lifecycle != nil && !p.c.detached() {
		// A session that ended while nobody consumed it (expired or
		// interrupted meanwhile) is read only until it is seen stopped.
		if sess, err := s.Lifecycle.Get(ctx, st.sess.TenantID, st.sess.SessionID); err == nil && sess.Status.Final() {
			p.c.detach(s.detachGrace())
		}
	}
	var done []*use
	for _, u := range st.uses {
		if u.ResultAt != nil {
			done = append(done, u)
		}
	}
	if len(done) > 0 {
		if err := p.audit(ctx, done, true); err != nil {
			return err
		}
		if err := p.flushAudited(ctx); err != nil {
			return err
		}
	}
	if st.sess.UpstreamStatus == upstreamIdle {
		var asks []string
		for id, u := range st.uses {
			if u.Permission == permissionAsk && u.ResultAt == nil && (u.Decision == "" || (u.Decision != decisionEscalated && u.ConfirmedAt == nil)) {
				asks = append(asks, id)
			}
		}
		p.decideAll(ctx, asks)
	}
	return p.finishIfDetached(ctx)
}

// effects are what a batch asks for once it is stored.
type effects struct {
	audits  []*use
	errors  []wireEvent
	crossed *crossing
	threads []string
	asks    []string
	// step is the lifecycle step of the batch's last status event:
	// "idle:STOP_REASON", "running" or "failed:REASON".
	step string
	// checkFinal asks whether the session ended (an interrupt was seen).
	checkFinal bool
}

// crossing is the moment a session's score crossed its threshold.
type crossing struct {
	use       *use
	verdict   anomaly.Verdict
	total     float64
	threshold float64
	at        time.Time
}

// handle stores one batch and runs its side effects.
func (p *processor) handle(ctx context.Context, items []item) error {
	s, st := p.c.s, p.st
	now := s.now()
	b := Batch{SessionID: st.sess.SessionID, Owner: s.Owner, At: now}
	dirty := map[string]*use{}
	var fx effects
	type parsed struct {
		ev     wireEvent
		thread string // the thread stream that delivered it
	}
	evs := make([]parsed, 0, len(items))
	var old []string
	for _, it := range items {
		ev, err := parseEvent(it.raw)
		if err != nil {
			p.poisonRaw(ctx, it.raw, nil, cut("unreadable event: "+err.Error(), 1024))
			continue
		}
		if ev.Type == typeEventStart || ev.Type == typeEventDelta {
			continue // previews; the final event follows
		}
		if ev.ID == "" || ev.Type == "" {
			p.poisonRaw(ctx, it.raw, &ev, "event without an id or a type")
			continue
		}
		if bad := ev.clean(); bad != "" {
			p.poisonRaw(ctx, it.raw, &ev, "event with "+bad)
			continue
		}
		evs = append(evs, parsed{ev, it.thread})
		if _, ok := st.seen[ev.ID]; !ok && ev.processedAt().Before(st.seenFrom) && !ev.processedAt().IsZero() {
			old = append(old, ev.ID)
		}
	}
	if len(old) > 0 {
		known, err := s.Store.ExistingEvents(ctx, st.sess.SessionID, old)
		if err != nil {
			return fmt.Errorf("look up old events: %w", err)
		}
		for _, id := range known {
			st.seen[id] = st.seenFrom
		}
	}
	for i := range evs {
		ev, it := &evs[i].ev, item{thread: evs[i].thread}
		if _, dup := st.seen[ev.ID]; dup {
			s.stats.duplicates.Add(1)
			continue
		}
		at := ev.processedAt()
		if at.IsZero() {
			at = now // a queued user event: stamped on receipt
		} else if it.thread == "" && at.After(st.sess.Cursor) {
			// Only the primary stream moves the cursor: it arrives in
			// order, so every primary event before it has been seen.
			st.sess.Cursor = at
		}
		st.seen[ev.ID] = at
		thread := ev.threadID()
		if thread == "" {
			thread = it.thread
		}
		b.Events = append(b.Events, Event{
			SessionID: st.sess.SessionID, EventID: ev.ID, TenantID: st.sess.TenantID, Seq: st.sess.NextSeq,
			Type: ev.Type, ThreadID: thread, ProcessedAt: at, ReceivedAt: now,
		})
		st.sess.NextSeq++
		p.apply(ev, it.thread, thread, at, dirty, &fx)
	}
	if len(b.Events) == 0 && len(dirty) == 0 {
		return nil
	}
	for _, u := range dirty {
		b.ToolUses = append(b.ToolUses, u.ToolUse)
	}
	b.Cursor = st.sess.Cursor
	b.NextSeq = st.sess.NextSeq
	b.Score, b.ScoreAt = st.sess.Score, st.sess.ScoreAt
	b.UpstreamStatus = st.sess.UpstreamStatus
	b.AutoInterrupted = st.sess.AutoInterrupted
	b.PendingStep = fx.step
	b.Audited = p.audited
	if err := s.Store.Commit(ctx, b); err != nil {
		if p.storeRefused(ctx, err, items, b, fx.crossed) {
			return errReload
		}
		return fmt.Errorf("store events: %w", err)
	}
	p.c.committed()
	p.audited = nil
	s.stats.events.Add(int64(len(b.Events)))
	stored := s.now()
	for i := range b.Events {
		if e := &b.Events[i]; e.ProcessedAt != e.ReceivedAt {
			s.stats.latency.observe(stored.Sub(e.ProcessedAt))
		}
	}
	st.prune(s.historySlack())
	s.notify(st.sess.SessionID)

	// The previous batch's audit overlapped with this batch's parsing and
	// storing; this batch's overlaps with the next one's.
	if err := p.waitAudit(); err != nil {
		return err
	}
	p.startAudit(ctx, fx.audits, false)
	if fx.step != "" || len(fx.asks) > 0 || fx.checkFinal || p.c.detached() {
		// Whatever follows from the batch (a turn's end, a decision)
		// comes after its records.
		if err := p.waitAudit(); err != nil {
			return err
		}
	}
	for _, ev := range fx.errors {
		p.recordError(ctx, &ev)
	}
	if fx.crossed != nil {
		p.crossed(ctx, fx.crossed)
	}
	for _, tid := range fx.threads {
		p.followThread(tid)
	}
	if len(fx.asks) > 0 {
		p.decideAll(ctx, fx.asks)
	}
	if fx.step != "" {
		if err := p.lifecycle(ctx, fx.step); err != nil {
			return err
		}
	} else if fx.checkFinal {
		if err := p.checkFinal(ctx); err != nil {
			return err
		}
	}
	return p.finishIfDetached(ctx)
}

// apply updates the state for one new event and notes its effects.
// fromThread is the thread stream that delivered it (empty: primary).
func (p *processor) apply(ev *wireEvent, fromThread, thread string, at time.Time, dirty map[string]*use, fx *effects) {
	st := p.st
	switch ev.Type {
	case typeToolUse, typeMCPToolUse:
		u := p.toolUse(ev, thread, at, fx)
		dirty[u.ToolUseID] = u
	case typeToolResult, typeMCPToolResult:
		u := p.toolResult(ev, thread, at)
		dirty[u.ToolUseID] = u
		fx.audits = append(fx.audits, u)
	case typeUserInterrupt:
		st.interrupted = true
		fx.checkFinal = true
	case typeSessionError:
		fx.errors = append(fx.errors, *ev)
		if ev.Error != nil {
			st.lastError = ev.Error.Type
			if ev.Error.Message != "" {
				st.lastError += ": " + ev.Error.Message
			}
		}
	case typeThreadCreated:
		if tid := ev.threadID(); tid != "" {
			fx.threads = append(fx.threads, tid)
		}
	}
	if fromThread != "" {
		return // a thread's own status events do not move the session
	}
	switch ev.Type {
	case typeStatusRunning:
		st.sess.UpstreamStatus = upstreamRunning
		fx.step = stepRunning
	case typeStatusResched:
		st.sess.UpstreamStatus = upstreamRescheduled
	case typeStatusIdle:
		st.sess.UpstreamStatus = upstreamIdle
		stop := stopEndTurn
		if ev.StopReason != nil && ev.StopReason.Type != "" {
			stop = ev.StopReason.Type
		}
		if stop == stopRequiresAction {
			fx.asks = append(fx.asks, ev.StopReason.EventIDs...)
			fx.step = ""
		} else {
			fx.step = stepIdle + stop
		}
	case typeStatusTerm:
		st.sess.UpstreamStatus = upstreamTerminated
		reason := "terminated upstream"
		if st.lastError != "" {
			reason += " (" + st.lastError + ")"
		}
		fx.step = stepFailed + reason
	case typeSessionDeleted:
		st.sess.UpstreamStatus = upstreamTerminated
		fx.step = stepFailed + "the upstream session was deleted"
	}
}

// toolUse records a tool use: redacted input, digest, anomaly verdict and
// the session score. Calls to Vargate's own MCP server are governed
// there and not judged again.
func (p *processor) toolUse(ev *wireEvent, thread string, at time.Time, fx *effects) *use {
	st := p.st
	input := objectOrEmpty(ev.Input)
	u := &use{ToolUse: ToolUse{
		SessionID: st.sess.SessionID, ToolUseID: ev.ID, TenantID: st.sess.TenantID, ThreadID: thread,
		Tool: ev.Name, Permission: ev.EvaluatedPermission, UsedAt: at,
	}}
	if ev.Type == typeMCPToolUse {
		u.MCPServer = ev.MCPServerName
	}
	st.calls++
	own := p.ownServer(u.MCPServer)
	j := judge(st.det, st.red, ev.Name, input, !own)
	u.ArgsDigest, u.InputRedacted = j.digest, j.redacted
	if !own {
		v := j.verdict
		total, crossed := st.score.Add(v, at)
		if at.After(st.sess.ScoreAt) {
			st.sess.ScoreAt = at
		}
		st.sess.Score = st.score.Total(st.sess.ScoreAt)
		u.Anomaly = anomalyJSON(v, total, st.score.Threshold, st.red)
		if crossed && !st.sess.AutoInterrupted {
			st.sess.AutoInterrupted = true
			fx.crossed = &crossing{use: u, verdict: v, total: total, threshold: st.score.Threshold, at: at}
		}
	}
	if ev.EvaluatedPermission == permissionAsk {
		u.input = input
	}
	if prev, ok := st.uses[ev.ID]; ok && prev.ResultAt != nil {
		// The result came first (a thread's stream can be ahead); keep it.
		u.ResultEvent, u.ResultExcerpt, u.ResultDigest, u.IsError, u.ResultAt =
			prev.ResultEvent, prev.ResultExcerpt, prev.ResultDigest, prev.IsError, prev.ResultAt
	}
	st.uses[ev.ID] = u
	return u
}

// ownServer reports whether server is Vargate's own MCP server.
func (p *processor) ownServer(server string) bool {
	return server != "" && server == p.st.sess.MCPServerName
}

// toolResult attaches a result to its use.
func (p *processor) toolResult(ev *wireEvent, thread string, at time.Time) *use {
	st := p.st
	id := ev.ToolUseID
	if ev.Type == typeMCPToolResult {
		id = ev.MCPToolUseID
	}
	u, ok := st.uses[id]
	if !ok {
		// The use is older than anything we kept (or never arrived):
		// record the result on its own.
		u = &use{ToolUse: ToolUse{SessionID: st.sess.SessionID, ToolUseID: id, TenantID: st.sess.TenantID,
			ThreadID: thread, Tool: "unknown", UsedAt: at}}
		st.uses[id] = u
	}
	excerpt, digest := resultExcerpt(ev.Content, 4*MaxResultExcerpt)
	u.ResultEvent = ev.ID
	u.ResultExcerpt = cleanText(st.red.text(excerpt), MaxResultExcerpt)
	u.ResultDigest = digest
	u.IsError = ev.IsError
	t := at
	u.ResultAt = &t
	u.input = nil
	return u
}

// anomalyJSON is the audit record's anomaly object.
func anomalyJSON(v anomaly.Verdict, total, threshold float64, red redactor) json.RawMessage {
	flags := make([]anomaly.Flag, len(v.Flags))
	for i, f := range v.Flags {
		f.Evidence = red.text(f.Evidence)
		flags[i] = f
	}
	b, _ := json.Marshal(struct {
		Flags        []anomaly.Flag   `json:"flags"`
		Severity     anomaly.Severity `json:"severity"`
		Score        float64          `json:"score"`
		Flagged      bool             `json:"flagged"`
		SessionScore float64          `json:"session_score"`
		Threshold    float64          `json:"threshold"`
	}{flags, v.Severity, roundScore(v.Score), v.Flagged(), roundScore(total), threshold})
	return b
}

// round rounds a policy input to 4 decimals.
func round(f float64) float64 { return float64(int64(f*1e4+0.5)) / 1e4 }

// roundScore rounds a score as records show it: 2 decimals (2.9, not
// 2.8999).
func roundScore(f float64) float64 { return math.Round(f*100) / 100 }

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

// observedDetail is the detail of an mcp_observed record.
type observedDetail struct {
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

// observedRecord is the mcp_observed audit record of a tool use.
func (p *processor) observedRecord(ctx context.Context, u *ToolUse) audit.Record {
	st := p.st
	d := observedDetail{
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
	type errDetail struct {
		EventID       string `json:"event_id"`
		Type          string `json:"type"`
		Message       string `json:"message,omitempty"`
		RetryStatus   string `json:"retry_status,omitempty"`
		MCPServerName string `json:"mcp_server_name,omitempty"`
	}
	d := errDetail{EventID: ev.ID}
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

// Lifecycle steps stored with a batch.
const (
	stepRunning = "running"
	stepIdle    = "idle:"
	stepFailed  = "failed:"
)

// lifecycle reports a step to the session lifecycle, clears it, and
// finishes the consumer when the session reached a final status. An error
// leaves the step stored: the next connection takes it again.
func (p *processor) lifecycle(ctx context.Context, step string) error {
	s, st := p.c.s, p.st
	if s.Lifecycle == nil {
		if strings.HasPrefix(step, stepFailed) {
			return p.finish(ctx, string(session.StatusFailed))
		}
		return s.Store.StepDone(ctx, st.sess.SessionID, step)
	}
	lctx, cancel := s.sideCtx(ctx)
	defer cancel()
	var sess session.Session
	var err error
	switch {
	case step == stepRunning:
		sess, err = s.Lifecycle.Resumed(lctx, st.sess.TenantID, st.sess.SessionID)
	case strings.HasPrefix(step, stepIdle):
		sess, err = s.Lifecycle.TurnEnded(lctx, st.sess.TenantID, st.sess.SessionID, strings.TrimPrefix(step, stepIdle))
	case strings.HasPrefix(step, stepFailed):
		sess, err = s.Lifecycle.Fail(lctx, st.sess.TenantID, st.sess.SessionID, strings.TrimPrefix(step, stepFailed))
	}
	if err != nil {
		return fmt.Errorf("session lifecycle %s: %w", step, err)
	}
	if err := s.Store.StepDone(ctx, st.sess.SessionID, step); err != nil {
		return fmt.Errorf("clear lifecycle step: %w", err)
	}
	if p.ended(sess) {
		return p.finish(ctx, string(sess.Status))
	}
	return nil
}

// ended reports whether the consumer may stop: the session reached a
// final status, and, when it was interrupted, the interrupt's echo is
// stored. The interrupt may be decided just as the session goes idle by
// itself; reading on until the echo keeps the trail whole and lets the
// interrupt be confirmed by the stream (an interrupt against an idle
// session is a no-op upstream, but it is still echoed).
func (p *processor) ended(sess session.Session) bool {
	return sess.Status.Final() && (sess.Status != session.StatusInterrupted || p.st.interrupted)
}

// checkFinal finishes the consumer of a session that ended (an interrupt
// arrived) once the stream shows it stopped.
func (p *processor) checkFinal(ctx context.Context) error {
	s, st := p.c.s, p.st
	if s.Lifecycle == nil || st.sess.UpstreamStatus == upstreamRunning || st.sess.UpstreamStatus == upstreamRescheduled {
		return nil
	}
	sess, err := s.Lifecycle.Get(ctx, st.sess.TenantID, st.sess.SessionID)
	if err != nil {
		return fmt.Errorf("read session status: %w", err)
	}
	if p.ended(sess) {
		return p.finish(ctx, string(sess.Status))
	}
	return nil
}

// finishIfDetached finishes the consumer of a detached session once the
// stream shows it stopped: terminated, or idle after an interrupt.
func (p *processor) finishIfDetached(ctx context.Context) error {
	st := p.st
	if !p.c.detached() {
		return nil
	}
	if st.sess.UpstreamStatus == upstreamTerminated || (st.interrupted && st.sess.UpstreamStatus == upstreamIdle) {
		return p.finish(ctx, p.c.s.finalStatus(ctx, &st.sess.Target))
	}
	return nil
}

// finalStatus returns the session's status for the record of a finished
// consumer ("ended" when it cannot be read).
func (s *Service) finalStatus(ctx context.Context, t *Target) string {
	if s.Lifecycle != nil {
		if sess, err := s.Lifecycle.Get(ctx, t.TenantID, t.SessionID); err == nil {
			return string(sess.Status)
		}
	}
	return "ended"
}

// finish stops consuming an ended session: escalated requests still
// waiting for a human are denied, tool uses that never returned are
// audited as such, and the consumer's state becomes done. It returns
// errFinished.
func (p *processor) finish(ctx context.Context, outcome string) error {
	s, st := p.c.s, p.st
	var open []*use
	for _, u := range st.uses {
		if u.Permission == permissionAsk && u.ResultAt == nil && u.Decision == decisionEscalated && u.ConfirmedAt == nil {
			s.denyEnded(ctx, &st.sess.Target, &u.ToolUse)
		}
		open = append(open, u)
	}
	if err := p.audit(ctx, open, true); err != nil {
		return err
	}
	if err := p.flushAudited(ctx); err != nil {
		return err
	}
	if err := s.Store.Finish(ctx, s.Owner, st.sess.SessionID, outcome, s.now()); err != nil {
		return fmt.Errorf("finish observed session: %w", err)
	}
	st.finished = true
	p.log().LogAttrs(ctx, slog.LevelInfo, "observed session ended", slog.String(logKeyOutcome, outcome))
	s.notify(st.sess.SessionID)
	return errFinished
}
