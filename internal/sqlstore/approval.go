package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
)

// ApprovalStore implements approval.Store.
type ApprovalStore struct{ db *DB }

var _ approval.Store = (*ApprovalStore)(nil)

// NewApprovalStore returns the approval queue store over db.
func NewApprovalStore(db *DB) *ApprovalStore { return &ApprovalStore{db: db} }

const approvalColumns = `id, tenant_id, session_id, agent_id, key_id, tool, args, args_sealed, args_redacted, args_digest,
	policy_version, decision_id, reasons, status, created_at, expires_at, decided_at, decided_by, decision_note,
	runner, lease_until, finished_at, result, result_sealed, result_digest, failure, version`

func apBool(b bool) int {
	if b {
		return 1
	}
	return 0
}

func apNullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Create inserts a pending action and its first event.
func (s *ApprovalStore) Create(ctx context.Context, r approval.Record, ev approval.Event) error {
	reasons, err := json.Marshal(apStrings(r.Reasons))
	if err != nil {
		return err
	}
	var redacted sql.NullString
	if len(r.ArgsRedacted) > 0 {
		redacted = sql.NullString{String: string(r.ArgsRedacted), Valid: true}
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (id, tenant_id, session_id, agent_id, key_id, tool, args,
			args_sealed, args_redacted, args_digest, policy_version, decision_id, reasons, status, created_at,
			expires_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			r.ID, r.TenantID, r.SessionID, r.AgentID, r.KeyID, r.Tool, r.ArgsStored, apBool(r.ArgsSealed), redacted,
			r.ArgsDigest, r.PolicyVersion, r.DecisionID, string(reasons), string(r.Status),
			Micros(r.CreatedAt), Micros(r.ExpiresAt)); err != nil {
			return err
		}
		ev.ActionID, ev.TenantID, ev.Seq, ev.To = r.ID, r.TenantID, 1, r.Status
		return insertApprovalEvent(ctx, tx, ev)
	})
}

func apStrings(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func insertApprovalEvent(ctx context.Context, tx *Tx, ev approval.Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO approval_events (id, action_id, tenant_id, seq, at, from_status,
		to_status, actor, note, audited_at, notified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.ActionID, ev.TenantID, ev.Seq, Micros(ev.At), string(ev.From), string(ev.To), ev.Actor, ev.Note,
		apOptMicros(ev.AuditedAt), apOptMicros(ev.NotifiedAt))
	return err
}

func apOptMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return Micros(*t)
}

type apScanner interface{ Scan(...any) error }

func scanApproval(sc apScanner) (approval.Record, error) {
	var r approval.Record
	var argsSealed, resultSealed int
	var redacted, failure sql.NullString
	var reasons, status string
	var created, expires int64
	var decided, lease, finished sql.NullInt64
	var result []byte
	err := sc.Scan(&r.ID, &r.TenantID, &r.SessionID, &r.AgentID, &r.KeyID, &r.Tool, &r.ArgsStored, &argsSealed, &redacted,
		&r.ArgsDigest, &r.PolicyVersion, &r.DecisionID, &reasons, &status, &created, &expires, &decided,
		&r.DecidedBy, &r.Note, &r.Runner, &lease, &finished, &result, &resultSealed, &r.ResultDigest, &failure,
		&r.Version)
	if err != nil {
		return approval.Record{}, err
	}
	r.ArgsSealed, r.ResultSealed = argsSealed != 0, resultSealed != 0
	r.Sensitive = r.ArgsSealed
	if redacted.Valid {
		r.ArgsRedacted = json.RawMessage(redacted.String)
	}
	if err := json.Unmarshal([]byte(reasons), &r.Reasons); err != nil {
		return approval.Record{}, err
	}
	if len(r.Reasons) == 0 {
		r.Reasons = nil
	}
	r.Status = approval.Status(status)
	r.CreatedAt, r.ExpiresAt = FromMicros(created), FromMicros(expires)
	r.DecidedAt, r.LeaseUntil, r.FinishedAt = NullMicros(decided), NullMicros(lease), NullMicros(finished)
	if len(result) > 0 {
		r.ResultStored = result
	}
	if failure.Valid {
		r.Failure = &approval.Failure{}
		if err := json.Unmarshal([]byte(failure.String), r.Failure); err != nil {
			return approval.Record{}, err
		}
	}
	return r, nil
}

// Get returns the tenant's action.
func (s *ApprovalStore) Get(ctx context.Context, tenantID, id string) (approval.Record, error) {
	r, err := scanApproval(s.db.QueryRowContext(ctx,
		`SELECT `+approvalColumns+` FROM approvals WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return approval.Record{}, notFound(err, "action")
	}
	return r, nil
}

// List returns the tenant's actions matching f, newest first.
func (s *ApprovalStore) List(ctx context.Context, tenantID string, f approval.Filter) ([]approval.Record, error) {
	where := []string{"tenant_id = ?"}
	args := []any{tenantID}
	for _, c := range []struct{ col, v string }{
		{"status", string(f.Status)}, {"session_id", f.SessionID}, {"agent_id", f.AgentID}, {"key_id", f.KeyID}, {"tool", f.Tool},
	} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if !f.Before.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, Micros(f.Before))
	}
	args = append(args, f.EffectiveLimit())
	return s.query(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
}

func (s *ApprovalStore) query(ctx context.Context, q string, args ...any) ([]approval.Record, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approval.Record
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Counts returns the number of the tenant's actions in each status.
func (s *ApprovalStore) Counts(ctx context.Context, tenantID string) (map[approval.Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM approvals WHERE tenant_id = ? GROUP BY status`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[approval.Status]int{}
	for _, st := range approval.Statuses() {
		out[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[approval.Status(st)] = n
	}
	return out, rows.Err()
}

// CountUnsettled returns the number of the session's actions pending and
// not expired at now, approved or executing.
func (s *ApprovalStore) CountUnsettled(ctx context.Context, tenantID, sessionID string, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals
		WHERE tenant_id = ? AND session_id = ? AND status IN ('pending', 'approved', 'executing')
		AND (status <> 'pending' OR expires_at > ?)`, tenantID, sessionID, Micros(now)).Scan(&n)
	return n, err
}

const approvalEventColumns = `id, action_id, tenant_id, seq, at, from_status, to_status, actor, note, audited_at, notified_at`

func scanApprovalEvent(sc apScanner) (approval.Event, error) {
	var ev approval.Event
	var at int64
	var from, to string
	var audited, notified sql.NullInt64
	if err := sc.Scan(&ev.ID, &ev.ActionID, &ev.TenantID, &ev.Seq, &at, &from, &to, &ev.Actor, &ev.Note,
		&audited, &notified); err != nil {
		return approval.Event{}, err
	}
	ev.At, ev.From, ev.To = FromMicros(at), approval.Status(from), approval.Status(to)
	ev.AuditedAt, ev.NotifiedAt = NullMicros(audited), NullMicros(notified)
	return ev, nil
}

func (s *ApprovalStore) events(ctx context.Context, q string, args ...any) ([]approval.Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []approval.Event
	for rows.Next() {
		ev, err := scanApprovalEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Events returns an action's events in order.
func (s *ApprovalStore) Events(ctx context.Context, tenantID, id string) ([]approval.Event, error) {
	return s.events(ctx, `SELECT `+approvalEventColumns+` FROM approval_events
		WHERE tenant_id = ? AND action_id = ? ORDER BY seq`, tenantID, id)
}

// Transition changes an action's status if it is one of t.From, and
// writes the event, in one transaction: the row is read under a row lock
// (PostgreSQL) or inside the single writer's transaction (SQLite), so of
// concurrent transitions from the same status exactly one succeeds.
func (s *ApprovalStore) Transition(ctx context.Context, t approval.Transition) (approval.Record, approval.Event, error) {
	var rec approval.Record
	ev := t.Event
	err := s.db.InTx(ctx, func(tx *Tx) error {
		var status string
		var expires int64
		var seq int
		err := tx.QueryRowContext(ctx, `SELECT status, expires_at FROM approvals WHERE tenant_id = ? AND id = ?`+tx.ForUpdate(),
			t.TenantID, t.ID).Scan(&status, &expires)
		if err != nil {
			return notFound(err, "action")
		}
		from := approval.Status(status)
		if !slices.Contains(t.From, from) {
			return vargate.Errorf(vargate.KindConflict, "action %s is %s", t.ID, from)
		}
		if t.Unexpired && Micros(t.At) >= expires {
			return vargate.Errorf(vargate.KindConflict, "action %s expired", t.ID)
		}
		set := "status = ?, version = version + 1"
		args := []any{string(t.To)}
		switch t.To {
		case approval.StatusApproved, approval.StatusRejected:
			set += ", decided_at = ?, decided_by = ?, decision_note = ?"
			args = append(args, Micros(t.At), t.DecidedBy, t.Note)
		case approval.StatusExecuting:
			set += ", runner = ?, lease_until = ?"
			args = append(args, t.Runner, Micros(t.LeaseUntil))
		case approval.StatusExecuted, approval.StatusFailed, approval.StatusCancelled:
			var failure sql.NullString
			if t.Failure != nil {
				b, err := json.Marshal(t.Failure)
				if err != nil {
					return err
				}
				failure = sql.NullString{String: string(b), Valid: true}
			}
			set += ", finished_at = ?, lease_until = NULL, result = ?, result_sealed = ?, result_digest = ?, failure = ?"
			args = append(args, Micros(t.At), apNullBytes(t.ResultStored), apBool(t.ResultSealed), t.ResultDigest, failure)
		}
		args = append(args, t.TenantID, t.ID)
		if _, err := tx.ExecContext(ctx, `UPDATE approvals SET `+set+` WHERE tenant_id = ? AND id = ?`, args...); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM approval_events WHERE action_id = ?`,
			t.ID).Scan(&seq); err != nil {
			return err
		}
		ev.ActionID, ev.TenantID, ev.Seq, ev.At, ev.From, ev.To = t.ID, t.TenantID, seq, t.At, from, t.To
		if err := insertApprovalEvent(ctx, tx, ev); err != nil {
			return err
		}
		rec, err = scanApproval(tx.QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE tenant_id = ? AND id = ?`,
			t.TenantID, t.ID))
		return err
	})
	if err != nil {
		return approval.Record{}, approval.Event{}, err
	}
	return rec, ev, nil
}

// Due returns actions in status whose deadline is at or before now.
func (s *ApprovalStore) Due(ctx context.Context, status approval.Status, now time.Time, limit int) ([]approval.Record, error) {
	var col string
	switch status {
	case approval.StatusPending:
		col = "expires_at"
	case approval.StatusExecuting:
		col = "lease_until"
	case approval.StatusApproved:
		col = "decided_at"
	default:
		return nil, vargate.Invalid("status", "no deadline for status %q", status)
	}
	return s.query(ctx, `SELECT `+approvalColumns+` FROM approvals WHERE status = ? AND `+col+` <= ? ORDER BY `+col+` LIMIT ?`,
		string(status), Micros(now), limit)
}

// Unsettled returns events at or before before with side effects not done.
func (s *ApprovalStore) Unsettled(ctx context.Context, before time.Time, limit int) ([]approval.Event, error) {
	return s.events(ctx, `SELECT `+approvalEventColumns+` FROM approval_events
		WHERE (audited_at IS NULL OR notified_at IS NULL) AND at <= ? ORDER BY at LIMIT ?`, Micros(before), limit)
}

// MarkSettled records that the event's audit record and/or notifications
// are done; a time already set is kept.
func (s *ApprovalStore) MarkSettled(ctx context.Context, eventID string, audited, notified bool, at time.Time) error {
	var sets []string
	if audited {
		sets = append(sets, "audited_at = COALESCE(audited_at, ?)")
	}
	if notified {
		sets = append(sets, "notified_at = COALESCE(notified_at, ?)")
	}
	if len(sets) == 0 {
		return nil
	}
	args := []any{}
	for range sets {
		args = append(args, Micros(at))
	}
	args = append(args, eventID)
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE approval_events SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...)
		return err
	})
}
