package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/session"
)

// SessionStore implements session.Store.
type SessionStore struct {
	db *DB
	// counts group-commits the session call counters (sessioncalls.go).
	counts counterBatcher
}

var _ session.Store = (*SessionStore)(nil)

// NewSessionStore returns the session store over db.
func NewSessionStore(db *DB) *SessionStore { return &SessionStore{db: db} }

// runningStatuses is the SQL list of statuses that hold a concurrency slot.
const runningStatuses = `('creating', 'active', 'awaiting_approval')`

// lockTenant takes the tenant's budget lock: its session_settings row,
// created on first use. On PostgreSQL the row lock is held until commit;
// on SQLite the write transaction itself is exclusive.
func lockTenant(ctx context.Context, tx *Tx, tenantID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO session_settings (tenant_id, updated_at) VALUES (?, ?)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, Micros(now)); err != nil {
		return fmt.Errorf("create session settings: %w", err)
	}
	var id string
	if err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM session_settings WHERE tenant_id = ?`+tx.ForUpdate(), tenantID).Scan(&id); err != nil {
		return fmt.Errorf("lock session budget: %w", err)
	}
	return nil
}

func countRunning(ctx context.Context, tx *Tx, tenantID string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE tenant_id = ? AND status IN `+runningStatuses, tenantID).Scan(&n)
	return n, err
}

// Reserve inserts a reservation if the budget allows, counting under the
// tenant's lock.
func (s *SessionStore) Reserve(ctx context.Context, sess session.Session, b session.Budget) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		if err := lockTenant(ctx, tx, sess.TenantID, sess.CreatedAt); err != nil {
			return err
		}
		running, err := countRunning(ctx, tx, sess.TenantID)
		if err != nil {
			return fmt.Errorf("count running sessions: %w", err)
		}
		if running >= b.MaxConcurrent {
			return vargate.Errorf(vargate.KindRateLimited,
				"the tenant already runs %d sessions (limit %d, DEFAULT_MAX_CONCURRENT_SESSIONS or the tenant's max_concurrent_sessions)", running, b.MaxConcurrent)
		}
		if b.MaxDailyTenant > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE tenant_id = ? AND created_at >= ?`,
				sess.TenantID, Micros(b.DayStart)).Scan(&n); err != nil {
				return fmt.Errorf("count today's sessions: %w", err)
			}
			if n >= b.MaxDailyTenant {
				return vargate.Errorf(vargate.KindRateLimited, "the tenant created %d sessions today (limit %d per UTC day)", n, b.MaxDailyTenant)
			}
		}
		if b.MaxDailyAgent > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE agent_id = ? AND tenant_id = ? AND created_at >= ?`,
				sess.AgentID, sess.TenantID, Micros(b.DayStart)).Scan(&n); err != nil {
				return fmt.Errorf("count the agent's sessions today: %w", err)
			}
			if n >= b.MaxDailyAgent {
				return vargate.Errorf(vargate.KindRateLimited, "agent %s created %d sessions today (its max_daily_sessions is %d)", sess.AgentID, n, b.MaxDailyAgent)
			}
		}
		chain, err := json.Marshal(nonNilStrings(sess.DelegationChain))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id, tenant_id, agent_id, agent_version, status, token_id, token_hash,
			mcp_server_url, delegation_chain, parent_session_id, created_by, created_at, updated_at, expires_at)
			VALUES (?, ?, ?, ?, 'creating', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.ID, sess.TenantID, sess.AgentID, sess.AgentVersion, sess.TokenID, sess.TokenHash, sess.MCPServerURL,
			string(chain), sess.ParentSessionID, sess.CreatedBy, Micros(sess.CreatedAt), Micros(sess.CreatedAt), Micros(sess.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return nil
	})
}

// Release deletes a reservation.
func (s *SessionStore) Release(ctx context.Context, tenantID, id string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM session_notices WHERE session_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE tenant_id = ? AND id = ? AND status = 'creating'`, tenantID, id)
		if err != nil {
			return fmt.Errorf("release session reservation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vargate.Errorf(vargate.KindConflict, "session %s is not a reservation", id)
		}
		return nil
	})
}

// Prepare records the upstream IDs of a reservation.
func (s *SessionStore) Prepare(ctx context.Context, sess session.Session) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET account = ?, anthropic_session_id = ?,
			anthropic_agent_id = ?, environment_id = ?, vault_id = ?, system_prompt_hash = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ? AND status = 'creating'`,
			sess.Account, sess.AnthropicSessionID, sess.AnthropicAgentID, sess.EnvironmentID, sess.VaultID,
			sess.SystemPromptHash, Micros(sess.UpdatedAt), sess.TenantID, sess.ID)
		if err != nil {
			return fmt.Errorf("record upstream session: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return vargate.Errorf(vargate.KindConflict, "session %s is no longer being created", sess.ID)
		}
		return nil
	})
}

const sessionColumns = `id, tenant_id, agent_id, agent_version, status, token_id, token_hash, account,
	anthropic_session_id, anthropic_agent_id, environment_id, vault_id, system_prompt_hash, mcp_server_url,
	delegation_chain, parent_session_id, stop_reason, end_reason, created_by, created_at, updated_at,
	expires_at, ended_at, cleaned_at`

func scanSession(sc interface{ Scan(...any) error }) (session.Session, error) {
	var s session.Session
	var status, chain string
	var created, updated, expires int64
	var ended, cleaned sql.NullInt64
	err := sc.Scan(&s.ID, &s.TenantID, &s.AgentID, &s.AgentVersion, &status, &s.TokenID, &s.TokenHash, &s.Account,
		&s.AnthropicSessionID, &s.AnthropicAgentID, &s.EnvironmentID, &s.VaultID, &s.SystemPromptHash, &s.MCPServerURL,
		&chain, &s.ParentSessionID, &s.StopReason, &s.EndReason, &s.CreatedBy, &created, &updated, &expires, &ended, &cleaned)
	if err != nil {
		return session.Session{}, err
	}
	s.Status = session.Status(status)
	if err := json.Unmarshal([]byte(chain), &s.DelegationChain); err != nil {
		return session.Session{}, fmt.Errorf("session %s: stored delegation chain: %w", s.ID, err)
	}
	s.CreatedAt, s.UpdatedAt, s.ExpiresAt = FromMicros(created), FromMicros(updated), FromMicros(expires)
	s.EndedAt, s.CleanedAt = NullMicros(ended), NullMicros(cleaned)
	return s, nil
}

// Get returns the tenant's session.
func (s *SessionStore) Get(ctx context.Context, tenantID, id string) (session.Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return session.Session{}, notFound(err, "session "+id)
	}
	return sess, nil
}

// ByTokenHash returns the session of an MCP token.
func (s *SessionStore) ByTokenHash(ctx context.Context, hash []byte) (session.Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, hash))
	if err != nil {
		return session.Session{}, notFound(err, "session token")
	}
	return sess, nil
}

// List returns the tenant's sessions, newest first.
func (s *SessionStore) List(ctx context.Context, tenantID string, f session.Filter) ([]session.Session, error) {
	where := []string{"tenant_id = ?", "status <> 'creating'"}
	args := []any{tenantID}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.AgentID != "" {
		where = append(where, "agent_id = ?")
		args = append(args, f.AgentID)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, Micros(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, Micros(f.Until))
	}
	if !f.Before.IsZero() {
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, Micros(f.Before), Micros(f.Before), f.BeforeID)
	}
	args = append(args, f.EffectiveLimit())
	return s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
}

func (s *SessionStore) query(ctx context.Context, q string, args ...any) ([]session.Session, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := []session.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// Transition moves a session's status by compare-and-set.
func (s *SessionStore) Transition(ctx context.Context, t session.Transition) (session.Session, error) {
	if len(t.From) == 0 {
		return session.Session{}, errors.New("transition without from statuses")
	}
	var out session.Session
	err := s.db.InTx(ctx, func(tx *Tx) error {
		if t.MaxConcurrent > 0 {
			if err := lockTenant(ctx, tx, t.TenantID, t.At); err != nil {
				return err
			}
			running, err := countRunning(ctx, tx, t.TenantID)
			if err != nil {
				return fmt.Errorf("count running sessions: %w", err)
			}
			if running >= t.MaxConcurrent {
				return vargate.Errorf(vargate.KindRateLimited, "the tenant already runs %d sessions (limit %d)", running, t.MaxConcurrent)
			}
		}
		from := make([]string, len(t.From))
		args := []any{string(t.To), Micros(t.At), t.StopReason, t.StopReason, t.EndReason, t.EndReason}
		// ended_at is when the session ended (the first time, if it ends
		// again), and is cleared when a completed session runs again.
		ended, restart := any(nil), 0
		if t.To.Ended() {
			ended = Micros(t.At)
		}
		if t.To.Running() {
			restart = 1
		}
		args = append(args, restart, ended, t.TenantID, t.ID)
		for i, st := range t.From {
			from[i] = "?"
			args = append(args, string(st))
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET status = ?, updated_at = ?,
			stop_reason = CASE WHEN ? <> '' THEN ? ELSE stop_reason END,
			end_reason = CASE WHEN ? <> '' THEN ? ELSE end_reason END,
			ended_at = CASE WHEN ? = 1 THEN NULL ELSE COALESCE(ended_at, ?) END
			WHERE tenant_id = ? AND id = ? AND status IN (`+strings.Join(from, ", ")+`)`, args...)
		if err != nil {
			return fmt.Errorf("update session status: %w", err)
		}
		n, _ := res.RowsAffected()
		out, err = scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE tenant_id = ? AND id = ?`, t.TenantID, t.ID))
		if err != nil {
			return notFound(err, "session "+t.ID)
		}
		if n == 0 {
			return vargate.Errorf(vargate.KindConflict, "session %s is %s", t.ID, out.Status)
		}
		return nil
	})
	if err != nil {
		return session.Session{}, err
	}
	return out, nil
}

// Due returns sessions past their deadline that are not cleaned, running
// ones first (so sessions to expire are never starved by cleanups that
// keep failing).
func (s *SessionStore) Due(ctx context.Context, now time.Time, limit int) ([]session.Session, error) {
	return s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE expires_at <= ? AND cleaned_at IS NULL
		AND status <> 'creating'
		ORDER BY CASE WHEN status IN ('active', 'awaiting_approval') THEN 0 ELSE 1 END, expires_at LIMIT ?`, Micros(now), limit)
}

// StaleReservations returns reservations older than before.
func (s *SessionStore) StaleReservations(ctx context.Context, before time.Time, limit int) ([]session.Session, error) {
	return s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE status = 'creating' AND created_at < ?
		ORDER BY created_at LIMIT ?`, Micros(before), limit)
}

// Running returns active and awaiting sessions of every tenant.
func (s *SessionStore) Running(ctx context.Context, limit int) ([]session.Session, error) {
	return s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE status IN ('active', 'awaiting_approval')
		ORDER BY created_at LIMIT ?`, limit)
}

// MarkCleaned sets cleaned_at once.
func (s *SessionStore) MarkCleaned(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET cleaned_at = COALESCE(cleaned_at, ?) WHERE tenant_id = ? AND id = ?`,
			Micros(at), tenantID, id)
		return err
	})
}

// Settings returns the tenant's overrides.
func (s *SessionStore) Settings(ctx context.Context, tenantID string) (session.Settings, error) {
	st := session.Settings{TenantID: tenantID}
	var tmpl sql.NullString
	var conc, daily, updated sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT governance_template, max_concurrent, max_daily, updated_at
		FROM session_settings WHERE tenant_id = ?`, tenantID).Scan(&tmpl, &conc, &daily, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read session settings: %w", err)
	}
	if tmpl.Valid {
		st.GovernanceTemplate = &tmpl.String
	}
	if conc.Valid {
		n := int(conc.Int64)
		st.MaxConcurrent = &n
	}
	if daily.Valid {
		n := int(daily.Int64)
		st.MaxDaily = &n
	}
	if updated.Valid {
		st.UpdatedAt = FromMicros(updated.Int64)
	}
	return st, nil
}

// SaveSettings replaces the tenant's overrides.
func (s *SessionStore) SaveSettings(ctx context.Context, st session.Settings) error {
	var tmpl sql.NullString
	if st.GovernanceTemplate != nil {
		tmpl = sql.NullString{String: *st.GovernanceTemplate, Valid: true}
	}
	nullInt := func(p *int) sql.NullInt64 {
		if p == nil {
			return sql.NullInt64{}
		}
		return sql.NullInt64{Int64: int64(*p), Valid: true}
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO session_settings (tenant_id, governance_template, max_concurrent, max_daily, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET governance_template = excluded.governance_template,
				max_concurrent = excluded.max_concurrent, max_daily = excluded.max_daily, updated_at = excluded.updated_at`,
			st.TenantID, tmpl, nullInt(st.MaxConcurrent), nullInt(st.MaxDaily), Micros(st.UpdatedAt))
		if err != nil {
			return fmt.Errorf("save session settings: %w", err)
		}
		return nil
	})
}

// Counters counts the session's governed and observed calls and denials
// from its audit records. A call is one action ID (records without one
// count one each), so the several records of one action count once.
// Here and in Audit, the condition that session_id is not empty repeats
// the partial index audit_log_session's, so that the query searches that
// index instead of reading the tenant's whole chain; id is never empty.
func (s *SessionStore) Counters(ctx context.Context, tenantID, id string) (session.Counters, error) {
	var c session.Counters
	err := s.db.QueryRowContext(ctx, `SELECT
			COUNT(DISTINCT CASE WHEN source = 'mcp_governed' THEN k END),
			COUNT(DISTINCT CASE WHEN source = 'mcp_observed' THEN k END),
			COUNT(DISTINCT CASE WHEN decision = 'deny' THEN k END)
		FROM (SELECT source, decision,
				CASE WHEN action_id <> '' THEN source || ':' || action_id ELSE 'seq:' || CAST(seq AS TEXT) END AS k
			FROM audit_log WHERE tenant_id = ? AND session_id = ? AND session_id <> ''
				AND source IN ('mcp_governed', 'mcp_observed')) calls`,
		tenantID, id).Scan(&c.GovernedCalls, &c.ObservedCalls, &c.Denied)
	if err != nil {
		return c, fmt.Errorf("count session calls: %w", err)
	}
	return c, nil
}

// Audit returns the session's records after afterSeq, oldest first.
func (s *SessionStore) Audit(ctx context.Context, tenantID, id string, afterSeq int64, limit int) ([]audit.Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE tenant_id = ? AND session_id = ? AND session_id <> '' AND seq > ? ORDER BY seq LIMIT ?`, tenantID, id, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list session audit records: %w", err)
	}
	defer rows.Close()
	var sc recordScanner
	recs := []audit.Record{}
	for rows.Next() {
		var r audit.Record
		if err := sc.scan(rows, &r, true); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// Mirror returns the mirror of a configuration for an account.
func (s *SessionStore) Mirror(ctx context.Context, agentID, account string) (session.Mirror, error) {
	u := session.Mirror{AgentID: agentID, Account: account}
	var updated int64
	err := s.db.QueryRowContext(ctx, `SELECT config_version, anthropic_agent_id, anthropic_version, environment_id,
		environment_hash, updated_at FROM agent_upstream WHERE agent_id = ? AND account = ?`, agentID, account).
		Scan(&u.ConfigVersion, &u.AnthropicAgentID, &u.AnthropicVersion, &u.EnvironmentID, &u.EnvironmentHash, &updated)
	if err != nil {
		return session.Mirror{}, notFound(err, "upstream agent")
	}
	u.UpdatedAt = FromMicros(updated)
	return u, nil
}

// SaveMirror inserts or replaces the mirror.
func (s *SessionStore) SaveMirror(ctx context.Context, u session.Mirror) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_upstream (agent_id, account, config_version, anthropic_agent_id,
			anthropic_version, environment_id, environment_hash, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (agent_id, account) DO UPDATE SET config_version = excluded.config_version,
				anthropic_agent_id = excluded.anthropic_agent_id, anthropic_version = excluded.anthropic_version,
				environment_id = excluded.environment_id, environment_hash = excluded.environment_hash,
				updated_at = excluded.updated_at`,
			u.AgentID, u.Account, u.ConfigVersion, u.AnthropicAgentID, u.AnthropicVersion, u.EnvironmentID,
			u.EnvironmentHash, Micros(u.UpdatedAt))
		if err != nil {
			return fmt.Errorf("save upstream agent: %w", err)
		}
		return nil
	})
}

// NoticeSent reports whether the outcome was already sent.
func (s *SessionStore) NoticeSent(ctx context.Context, sessionID, actionID, status string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM session_notices WHERE session_id = ? AND action_id = ? AND status = ?`,
		sessionID, actionID, status).Scan(&n)
	return n > 0, err
}

// RecordNotice records a sent outcome; recording twice is not an error.
func (s *SessionStore) RecordNotice(ctx context.Context, sessionID, actionID, status string, at time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO session_notices (session_id, action_id, status, sent_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (session_id, action_id, status) DO NOTHING`, sessionID, actionID, status, Micros(at))
		return err
	})
}
