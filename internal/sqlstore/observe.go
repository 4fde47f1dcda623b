package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/observe"
)

// ObserveStore implements observe.Store.
type ObserveStore struct {
	db *DB

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // the batch statements, prepared once
}

var _ observe.Store = (*ObserveStore)(nil)

// NewObserveStore returns the event consumer's store over db.
func NewObserveStore(db *DB) *ObserveStore { return &ObserveStore{db: db} }

// observeChunks are the row counts of the prepared multi-row statements;
// a batch is written as a sum of them.
var observeChunks = []int{64, 16, 4, 1}

// stmt returns the prepared statement of query, preparing it once. It
// must run outside a transaction: on SQLite the write pool's only
// connection would be taken.
func (s *ObserveStore) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.db.Write.PrepareContext(ctx, s.db.q(query))
	if err != nil {
		return nil, fmt.Errorf("prepare observe statement: %w", err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, nil
}

// multiRow returns "prefix (?, …), (?, …) suffix" for n rows of cols.
func multiRow(prefix string, cols, n int, suffix string) string {
	var q strings.Builder
	q.WriteString(prefix)
	row := "(" + placeholders(cols) + ")"
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
	}
	q.WriteString(suffix)
	return q.String()
}

// chunks splits n rows into the prepared chunk sizes, largest first.
func chunks(n int) []int {
	var out []int
	for _, c := range observeChunks {
		for n >= c {
			out = append(out, c)
			n -= c
		}
	}
	return out
}

const observeSessionColumns = `session_id, tenant_id, upstream_id, agent_id, target, state, outcome, pending_step,
	owner, lease_until, cursor_at, next_seq, score, score_at, upstream_status, auto_interrupted, interrupt_event,
	created_at, updated_at, ended_at`

func scanObserveSession(sc interface{ Scan(...any) error }) (observe.Session, error) {
	var s observe.Session
	var target string
	var lease, cursor, scoreAt, created, updated int64
	var auto int
	var ended sql.NullInt64
	var sessionID, tenantID, upstreamID, agentID string
	if err := sc.Scan(&sessionID, &tenantID, &upstreamID, &agentID, &target, &s.State, &s.Outcome, &s.PendingStep,
		&s.Owner, &lease, &cursor, &s.NextSeq, &s.Score, &scoreAt, &s.UpstreamStatus, &auto, &s.InterruptEvent,
		&created, &updated, &ended); err != nil {
		return observe.Session{}, err
	}
	if err := json.Unmarshal([]byte(target), &s.Target); err != nil {
		return observe.Session{}, fmt.Errorf("decode observed session target: %w", err)
	}
	s.SessionID, s.TenantID, s.UpstreamID, s.AgentID = sessionID, tenantID, upstreamID, agentID
	s.LeaseUntil = fromMicrosOrZero(lease)
	s.Cursor = fromMicrosOrZero(cursor)
	s.ScoreAt = fromMicrosOrZero(scoreAt)
	s.AutoInterrupted = auto != 0
	s.CreatedAt, s.UpdatedAt = FromMicros(created), FromMicros(updated)
	s.EndedAt = NullMicros(ended)
	return s, nil
}

// fromMicrosOrZero reads a timestamp stored as 0 for "never".
func fromMicrosOrZero(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return FromMicros(us)
}

// microsOrZero stores the zero time as 0.
func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return Micros(t)
}

// Register adds an active session, leased to owner if one is named; an
// existing one is left as it is.
func (s *ObserveStore) Register(ctx context.Context, t observe.Target, owner string, at, until time.Time) error {
	target, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode observed session target: %w", err)
	}
	lease := int64(0)
	if owner != "" {
		lease = Micros(until)
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO observe_sessions
			(session_id, tenant_id, upstream_id, agent_id, target, state, owner, lease_until, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING`,
			t.SessionID, t.TenantID, t.UpstreamID, t.AgentID, string(target), owner, lease, Micros(at), Micros(at))
		return err
	})
}

// Get returns a tenant's observed session.
func (s *ObserveStore) Get(ctx context.Context, tenantID, sessionID string) (observe.Session, error) {
	sess, err := scanObserveSession(s.db.QueryRowContext(ctx,
		`SELECT `+observeSessionColumns+` FROM observe_sessions WHERE session_id = ? AND tenant_id = ?`, sessionID, tenantID))
	if err != nil {
		return observe.Session{}, notFound(err, "session")
	}
	return sess, nil
}

// claimable is the condition under which owner may take a session.
const claimable = `state = 'active' AND (owner = '' OR owner = ? OR lease_until < ?)`

// Claim takes up to limit claimable sessions. Each is taken with a
// conditional update, so of two processes claiming at once only one gets
// a given session.
func (s *ObserveStore) Claim(ctx context.Context, owner string, now, until time.Time, limit int) ([]observe.Session, error) {
	var out []observe.Session
	err := s.db.InTx(ctx, func(tx *Tx) error {
		out = out[:0]
		ids, err := txStrings(ctx, tx, `SELECT session_id FROM observe_sessions WHERE `+claimable+
			` ORDER BY lease_until, created_at LIMIT ?`, owner, Micros(now), limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			sess, ok, err := claimOne(ctx, tx, id, owner, now, until)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, sess)
			}
		}
		return nil
	})
	return out, err
}

// ClaimSession takes one session if it is claimable.
func (s *ObserveStore) ClaimSession(ctx context.Context, sessionID, owner string, now, until time.Time) (observe.Session, bool, error) {
	var sess observe.Session
	var ok bool
	err := s.db.InTx(ctx, func(tx *Tx) error {
		var err error
		sess, ok, err = claimOne(ctx, tx, sessionID, owner, now, until)
		return err
	})
	return sess, ok, err
}

func claimOne(ctx context.Context, tx *Tx, sessionID, owner string, now, until time.Time) (observe.Session, bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET owner = ?, lease_until = ?
		WHERE session_id = ? AND `+claimable, owner, Micros(until), sessionID, owner, Micros(now))
	if err != nil {
		return observe.Session{}, false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return observe.Session{}, false, nil
	}
	sess, err := scanObserveSession(tx.QueryRowContext(ctx,
		`SELECT `+observeSessionColumns+` FROM observe_sessions WHERE session_id = ?`, sessionID))
	if err != nil {
		return observe.Session{}, false, err
	}
	return sess, true, nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Renew extends owner's leases and returns the sessions it still holds.
func (s *ObserveStore) Renew(ctx context.Context, owner string, sessionIDs []string, until time.Time) ([]string, error) {
	if len(sessionIDs) == 0 {
		return nil, nil
	}
	var held []string
	err := s.db.InTx(ctx, func(tx *Tx) error {
		held = held[:0]
		for start := 0; start < len(sessionIDs); start += 500 {
			chunk := sessionIDs[start:min(start+500, len(sessionIDs))]
			args := []any{Micros(until), owner}
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET lease_until = ?
				WHERE owner = ? AND state = 'active' AND session_id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
			rows, err := tx.QueryContext(ctx, `SELECT session_id FROM observe_sessions
				WHERE owner = ? AND state = 'active' AND session_id IN (`+placeholders(len(chunk))+`)`, args[1:]...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				held = append(held, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return held, err
}

// Release gives up owner's lease.
func (s *ObserveStore) Release(ctx context.Context, owner, sessionID string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET owner = '', lease_until = 0
			WHERE session_id = ? AND owner = ?`, sessionID, owner)
		return err
	})
}

const (
	observeProgressSQL = `UPDATE observe_sessions SET cursor_at = ?, next_seq = ?, score = ?, score_at = ?,
			upstream_status = ?, auto_interrupted = CASE WHEN ? = 1 THEN 1 ELSE auto_interrupted END,
			pending_step = CASE WHEN ? <> '' THEN ? ELSE pending_step END, updated_at = ?
		WHERE session_id = ? AND owner = ? AND state = 'active'`
	observeEventsPrefix = `INSERT INTO observe_events (session_id, event_id, tenant_id, seq, type, thread_id, processed_at, received_at) VALUES `
	observeEventCols    = 8
	observeAuditedSQL   = `UPDATE observe_tool_uses SET audited_at = ? WHERE session_id = ? AND audited_at IS NULL AND tool_use_id IN (`
)

// Commit writes a batch fenced on the lease, with statements prepared
// once (a batch of 512 events would otherwise re-parse dozens of them).
func (s *ObserveStore) Commit(ctx context.Context, b observe.Batch) error {
	progress, err := s.stmt(ctx, observeProgressSQL)
	if err != nil {
		return err
	}
	auditedStmts := map[int]*sql.Stmt{}
	for _, n := range chunks(len(b.Audited)) {
		if auditedStmts[n] == nil {
			if auditedStmts[n], err = s.stmt(ctx, observeAuditedSQL+placeholders(n)+`)`); err != nil {
				return err
			}
		}
	}
	evStmts := map[int]*sql.Stmt{}
	for _, n := range chunks(len(b.Events)) {
		if evStmts[n] == nil {
			if evStmts[n], err = s.stmt(ctx, multiRow(observeEventsPrefix, observeEventCols, n, ` ON CONFLICT (session_id, event_id) DO NOTHING`)); err != nil {
				return err
			}
		}
	}
	useStmts := map[int]*sql.Stmt{}
	for _, n := range chunks(len(b.ToolUses)) {
		if useStmts[n] == nil {
			if useStmts[n], err = s.stmt(ctx, multiRow(`INSERT INTO observe_tool_uses (`+toolUseColumns+`) VALUES `, toolUseCols, n,
				` ON CONFLICT (session_id, tool_use_id) DO UPDATE SET `+toolUseUpdates)); err != nil {
				return err
			}
		}
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		ctx := tx.context(ctx) // the prepared statements bypass tx's methods
		auto := 0
		if b.AutoInterrupted {
			auto = 1
		}
		res, err := tx.tx.StmtContext(ctx, progress).ExecContext(ctx,
			microsOrZero(b.Cursor), b.NextSeq, b.Score, microsOrZero(b.ScoreAt), b.UpstreamStatus, auto,
			b.PendingStep, b.PendingStep, Micros(b.At), b.SessionID, b.Owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return observe.ErrLeaseLost
		}
		args := make([]any, 0, 64*toolUseCols)
		evs := b.Events
		for _, n := range chunks(len(evs)) {
			args = args[:0]
			for _, e := range evs[:n] {
				args = append(args, e.SessionID, e.EventID, e.TenantID, e.Seq, e.Type, e.ThreadID, Micros(e.ProcessedAt), Micros(e.ReceivedAt))
			}
			if _, err := tx.tx.StmtContext(ctx, evStmts[n]).ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("insert observed events: %w", err)
			}
			evs = evs[n:]
		}
		uses := b.ToolUses
		for _, n := range chunks(len(uses)) {
			args = args[:0]
			for _, u := range uses[:n] {
				args = appendToolUse(args, u)
			}
			if _, err := tx.tx.StmtContext(ctx, useStmts[n]).ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("store tool uses: %w", err)
			}
			uses = uses[n:]
		}
		ids := b.Audited
		for _, n := range chunks(len(ids)) {
			args = append(args[:0], Micros(b.At), b.SessionID)
			for _, id := range ids[:n] {
				args = append(args, id)
			}
			if _, err := tx.tx.StmtContext(ctx, auditedStmts[n]).ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("mark tool uses audited: %w", err)
			}
			ids = ids[n:]
		}
		return nil
	})
}

const toolUseColumns = `session_id, tool_use_id, tenant_id, thread_id, tool, mcp_server, permission, args_digest,
	input_redacted, anomaly, used_at, result_event, result_excerpt, result_digest, is_error, result_at,
	decision, decision_note, action_id, confirmed_at, linked_action, audited_at`

// toolUseUpdates are the columns a re-insert of a tool use replaces; the
// decision columns are only replaced by a non-empty value, so that a
// consumer's batch never undoes a decision stored by SetDecision.
const toolUseUpdates = `thread_id = excluded.thread_id, tool = excluded.tool, mcp_server = excluded.mcp_server,
	permission = excluded.permission, args_digest = excluded.args_digest, input_redacted = excluded.input_redacted,
	anomaly = excluded.anomaly, used_at = excluded.used_at, result_event = excluded.result_event,
	result_excerpt = excluded.result_excerpt, result_digest = excluded.result_digest, is_error = excluded.is_error,
	result_at = excluded.result_at,
	decision = CASE WHEN excluded.decision <> '' THEN excluded.decision ELSE observe_tool_uses.decision END,
	decision_note = CASE WHEN excluded.decision <> '' THEN excluded.decision_note ELSE observe_tool_uses.decision_note END,
	action_id = CASE WHEN excluded.action_id <> '' THEN excluded.action_id ELSE observe_tool_uses.action_id END,
	confirmed_at = COALESCE(observe_tool_uses.confirmed_at, excluded.confirmed_at),
	linked_action = CASE WHEN excluded.linked_action <> '' THEN excluded.linked_action ELSE observe_tool_uses.linked_action END,
	audited_at = COALESCE(observe_tool_uses.audited_at, excluded.audited_at)`

const toolUseCols = 22

func appendToolUse(args []any, u observe.ToolUse) []any {
	isErr := 0
	if u.IsError {
		isErr = 1
	}
	return append(args, u.SessionID, u.ToolUseID, u.TenantID, u.ThreadID, u.Tool, u.MCPServer, u.Permission, u.ArgsDigest,
		string(u.InputRedacted), string(u.Anomaly), Micros(u.UsedAt), u.ResultEvent, u.ResultExcerpt, u.ResultDigest, isErr,
		nullMicros(u.ResultAt), u.Decision, u.DecisionNote, u.ActionID, nullMicros(u.ConfirmedAt), u.LinkedAction, nullMicros(u.AuditedAt))
}

// nullMicros stores an optional timestamp.
func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: Micros(*t), Valid: true}
}

func scanToolUse(sc interface{ Scan(...any) error }) (observe.ToolUse, error) {
	var u observe.ToolUse
	var input, anomaly string
	var used int64
	var isErr int
	var resultAt, confirmed, audited sql.NullInt64
	if err := sc.Scan(&u.SessionID, &u.ToolUseID, &u.TenantID, &u.ThreadID, &u.Tool, &u.MCPServer, &u.Permission, &u.ArgsDigest,
		&input, &anomaly, &used, &u.ResultEvent, &u.ResultExcerpt, &u.ResultDigest, &isErr, &resultAt,
		&u.Decision, &u.DecisionNote, &u.ActionID, &confirmed, &u.LinkedAction, &audited); err != nil {
		return observe.ToolUse{}, err
	}
	if input != "" {
		u.InputRedacted = json.RawMessage(input)
	}
	if anomaly != "" {
		u.Anomaly = json.RawMessage(anomaly)
	}
	u.UsedAt = FromMicros(used)
	u.IsError = isErr != 0
	u.ResultAt, u.ConfirmedAt, u.AuditedAt = NullMicros(resultAt), NullMicros(confirmed), NullMicros(audited)
	return u, nil
}

// StepDone clears the pending lifecycle step if it is step.
func (s *ObserveStore) StepDone(ctx context.Context, sessionID, step string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET pending_step = '' WHERE session_id = ? AND pending_step = ?`,
			sessionID, step)
		return err
	})
}

// Finish marks owner's session done.
func (s *ObserveStore) Finish(ctx context.Context, owner, sessionID, outcome string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET state = 'done', outcome = ?, pending_step = '',
				ended_at = ?, updated_at = ?, owner = '', lease_until = 0
			WHERE session_id = ? AND owner = ? AND state = 'active'`,
			outcome, Micros(at), Micros(at), sessionID, owner)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return observe.ErrLeaseLost
		}
		return nil
	})
}

// txStrings reads a one-column query in the transaction, closing the rows
// before the caller issues its next statement.
func txStrings(ctx context.Context, tx *Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// PruneDone implements observe.Store.
func (s *ObserveStore) PruneDone(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := s.db.InTx(ctx, func(tx *Tx) error {
		ids, err := txStrings(ctx, tx, `SELECT session_id FROM observe_sessions WHERE state = 'done' AND ended_at < ? LIMIT ?`,
			Micros(before), limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			for _, q := range []string{
				`DELETE FROM observe_events WHERE session_id = ?`,
				`DELETE FROM observe_tool_uses WHERE session_id = ?`,
				`DELETE FROM observe_sessions WHERE session_id = ? AND state = 'done'`,
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return fmt.Errorf("prune observed session %s: %w", id, err)
				}
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// SetInterruptEvent records the last user.interrupt sent.
func (s *ObserveStore) SetInterruptEvent(ctx context.Context, sessionID, eventID string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observe_sessions SET interrupt_event = ?, updated_at = ? WHERE session_id = ?`,
			eventID, Micros(at), sessionID)
		return err
	})
}

// EventIDsSince returns the IDs of events processed at or after since.
func (s *ObserveStore) EventIDsSince(ctx context.Context, sessionID string, since time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event_id FROM observe_events WHERE session_id = ? AND processed_at >= ?`,
		sessionID, microsOrZero(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ExistingEvents returns which of the event IDs the session has stored.
func (s *ObserveStore) ExistingEvents(ctx context.Context, sessionID string, eventIDs []string) ([]string, error) {
	var out []string
	for start := 0; start < len(eventIDs); start += 500 {
		chunk := eventIDs[start:min(start+500, len(eventIDs))]
		args := []any{sessionID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT event_id FROM observe_events WHERE session_id = ? AND event_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OpenToolUses returns the session's tool uses not yet audited.
func (s *ObserveStore) OpenToolUses(ctx context.Context, sessionID string) ([]observe.ToolUse, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+toolUseColumns+` FROM observe_tool_uses
		WHERE session_id = ? AND audited_at IS NULL ORDER BY used_at, tool_use_id`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []observe.ToolUse
	for rows.Next() {
		u, err := scanToolUse(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// MarkAudited sets audited_at on tool uses.
func (s *ObserveStore) MarkAudited(ctx context.Context, sessionID string, toolUseIDs []string, at time.Time) error {
	if len(toolUseIDs) == 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		for start := 0; start < len(toolUseIDs); start += 500 {
			chunk := toolUseIDs[start:min(start+500, len(toolUseIDs))]
			args := []any{Micros(at), sessionID}
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE observe_tool_uses SET audited_at = ?
				WHERE session_id = ? AND audited_at IS NULL AND tool_use_id IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetDecision records the decision on a confirmation request.
func (s *ObserveStore) SetDecision(ctx context.Context, sessionID, toolUseID, decision, note, actionID string, confirmed bool, at time.Time) error {
	c := 0
	if confirmed {
		c = 1
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observe_tool_uses SET decision = ?, decision_note = ?,
				action_id = CASE WHEN ? <> '' THEN ? ELSE action_id END,
				confirmed_at = CASE WHEN ? = 1 THEN COALESCE(confirmed_at, ?) ELSE confirmed_at END
			WHERE session_id = ? AND tool_use_id = ?`,
			decision, note, actionID, actionID, c, Micros(at), sessionID, toolUseID)
		return err
	})
}

// Link records the governed action of a call to Vargate's own server.
func (s *ObserveStore) Link(ctx context.Context, sessionID, toolUseID, actionID string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE observe_tool_uses SET linked_action = ? WHERE session_id = ? AND tool_use_id = ?`,
			actionID, sessionID, toolUseID)
		return err
	})
}

// ToolUseByAction returns the tool use of an escalated confirmation.
func (s *ObserveStore) ToolUseByAction(ctx context.Context, tenantID, actionID string) (observe.ToolUse, error) {
	if actionID == "" {
		return observe.ToolUse{}, vargate.NotFound("tool use")
	}
	u, err := scanToolUse(s.db.QueryRowContext(ctx, `SELECT `+toolUseColumns+` FROM observe_tool_uses
		WHERE tenant_id = ? AND action_id = ?`, tenantID, actionID))
	if err != nil {
		return observe.ToolUse{}, notFound(err, "tool use")
	}
	return u, nil
}

// statusTypes are the event types of the session's status.
const statusTypes = `('session.status_idle', 'session.status_terminated', 'session.status_running', 'session.status_rescheduled')`

// InterruptState reports whether the interrupt event was stored and the
// session shown idle (or terminated) after it.
func (s *ObserveStore) InterruptState(ctx context.Context, sessionID, eventID string) (seen, idle bool, err error) {
	var seq int64
	err = s.db.QueryRowContext(ctx, `SELECT seq FROM observe_events WHERE session_id = ? AND event_id = ?`, sessionID, eventID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM observe_events WHERE session_id = ? AND seq > ? AND thread_id = ''
		AND type IN ('session.status_idle', 'session.status_terminated')`, sessionID, seq).Scan(&n); err != nil {
		return true, false, err
	}
	if n > 0 {
		return true, true, nil
	}
	var last string
	err = s.db.QueryRowContext(ctx, `SELECT type FROM observe_events WHERE session_id = ? AND seq < ? AND thread_id = ''
		AND type IN `+statusTypes+` ORDER BY seq DESC LIMIT 1`, sessionID, seq).Scan(&last)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, true, nil // never started: a new session is idle
	case err != nil:
		return true, false, err
	}
	return true, last == "session.status_idle" || last == "session.status_terminated", nil
}

// CountEvents returns how many of the session's events have the type.
func (s *ObserveStore) CountEvents(ctx context.Context, sessionID, typ string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM observe_events WHERE session_id = ? AND type = ?`, sessionID, typ).Scan(&n)
	return n, err
}
