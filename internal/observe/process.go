package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/anomaly"
)

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
	if err := p.resumeUnfinished(ctx); err != nil {
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

// resumeUnfinished completes what a previous connection or process left
// undone: a lifecycle step stored but not taken, tool uses with a result
// but no audit record, confirmation requests not answered.
func (p *processor) resumeUnfinished(ctx context.Context) error {
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
