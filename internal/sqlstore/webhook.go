package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/webhook"
)

// WebhookStore implements webhook.Store.
type WebhookStore struct{ db *DB }

var _ webhook.Store = (*WebhookStore)(nil)

// NewWebhookStore returns the webhook settings and outbox store over db.
func NewWebhookStore(db *DB) *WebhookStore { return &WebhookStore{db: db} }

// Settings returns the tenant's endpoint.
func (s *WebhookStore) Settings(ctx context.Context, tenantID string) (webhook.StoredSettings, error) {
	var st webhook.StoredSettings
	var events string
	var created, updated int64
	err := s.db.QueryRowContext(ctx, `SELECT tenant_id, url, secret_sealed, events, created_at, updated_at
		FROM webhook_settings WHERE tenant_id = ?`, tenantID).
		Scan(&st.TenantID, &st.URL, &st.SecretSealed, &events, &created, &updated)
	if err != nil {
		return webhook.StoredSettings{}, notFound(err, "webhook")
	}
	if err := json.Unmarshal([]byte(events), &st.Events); err != nil {
		return webhook.StoredSettings{}, err
	}
	if len(st.Events) == 0 {
		st.Events = nil
	}
	st.CreatedAt, st.UpdatedAt = FromMicros(created), FromMicros(updated)
	return st, nil
}

// PutSettings creates or replaces the tenant's endpoint.
func (s *WebhookStore) PutSettings(ctx context.Context, st webhook.StoredSettings) error {
	events, err := json.Marshal(apStrings(st.Events))
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_settings (tenant_id, url, secret_sealed, events, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret_sealed = excluded.secret_sealed,
				events = excluded.events, updated_at = excluded.updated_at`,
			st.TenantID, st.URL, st.SecretSealed, string(events), Micros(st.CreatedAt), Micros(st.UpdatedAt))
		return err
	})
}

// DeleteSettings removes the tenant's endpoint.
func (s *WebhookStore) DeleteSettings(ctx context.Context, tenantID string) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_settings WHERE tenant_id = ?`, tenantID)
		return err
	})
}

// InsertMessage adds a message unless one with its ID exists.
func (s *WebhookStore) InsertMessage(ctx context.Context, m webhook.Message) (bool, error) {
	var inserted bool
	err := s.db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO webhook_messages (id, tenant_id, event, payload, status, attempts,
			created_at, next_attempt_at, give_up_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			m.ID, m.TenantID, m.Event, m.Payload, string(m.Status), m.Attempts, Micros(m.CreatedAt), Micros(m.NextAttemptAt),
			Micros(m.GiveUpAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		inserted = n == 1
		return err
	})
	return inserted, err
}

// InsertMessages adds messages in one transaction, skipping existing IDs,
// with multi-row INSERTs (a round trip per 64 messages, not per message).
func (s *WebhookStore) InsertMessages(ctx context.Context, ms []webhook.Message) error {
	const chunk = 64
	return s.db.InTx(ctx, func(tx *Tx) error {
		for len(ms) > 0 {
			n := min(len(ms), chunk)
			var q strings.Builder
			q.WriteString(`INSERT INTO webhook_messages (id, tenant_id, event, payload, status, attempts, created_at,
				next_attempt_at, give_up_at) VALUES `)
			args := make([]any, 0, n*9)
			for i, m := range ms[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, m.ID, m.TenantID, m.Event, m.Payload, string(m.Status), m.Attempts,
					Micros(m.CreatedAt), Micros(m.NextAttemptAt), Micros(m.GiveUpAt))
			}
			q.WriteString(" ON CONFLICT (id) DO NOTHING")
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
			ms = ms[n:]
		}
		return nil
	})
}

const webhookMessageColumns = `id, tenant_id, event, payload, status, attempts, created_at, next_attempt_at,
	give_up_at, last_attempt_at, last_status_code, last_error, finished_at`

func scanWebhookMessage(sc apScanner) (webhook.Message, error) {
	var m webhook.Message
	var status string
	var created, next, giveUp int64
	var last, finished sql.NullInt64
	if err := sc.Scan(&m.ID, &m.TenantID, &m.Event, &m.Payload, &status, &m.Attempts, &created, &next, &giveUp, &last,
		&m.LastStatusCode, &m.LastError, &finished); err != nil {
		return webhook.Message{}, err
	}
	m.Status = webhook.Status(status)
	m.CreatedAt, m.NextAttemptAt, m.GiveUpAt = FromMicros(created), FromMicros(next), FromMicros(giveUp)
	m.LastAttemptAt, m.FinishedAt = NullMicros(last), NullMicros(finished)
	return m, nil
}

func scanWebhookMessages(rows *sql.Rows) ([]webhook.Message, error) {
	defer rows.Close()
	var out []webhook.Message
	for rows.Next() {
		m, err := scanWebhookMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Claim takes up to limit due pending messages, pushing each one's next
// attempt to leaseUntil. On PostgreSQL, FOR UPDATE SKIP LOCKED lets
// several gateways claim disjoint messages at once; on SQLite the single
// writer serialises claims.
func (s *WebhookStore) Claim(ctx context.Context, now, leaseUntil time.Time, limit int) ([]webhook.Message, error) {
	var out []webhook.Message
	err := s.db.InTx(ctx, func(tx *Tx) error {
		lock := ""
		if tx.Dialect() == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		rows, err := tx.QueryContext(ctx, `UPDATE webhook_messages SET next_attempt_at = ?, attempts = attempts + 1
			WHERE id IN (SELECT id FROM webhook_messages WHERE status = 'pending' AND next_attempt_at <= ?
				ORDER BY next_attempt_at LIMIT ?`+lock+`)
			RETURNING `+webhookMessageColumns, Micros(leaseUntil), Micros(now), limit)
		if err != nil {
			return err
		}
		out, err = scanWebhookMessages(rows)
		return err
	})
	return out, err
}

// RecordAttempt logs the attempt and updates the pending message.
func (s *WebhookStore) RecordAttempt(ctx context.Context, a webhook.Attempt, status webhook.Status, next time.Time) error {
	var finished any
	if status != webhook.StatusPending {
		finished = Micros(a.At)
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (message_id, attempt, tenant_id, at, url,
			status_code, error, duration_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, attempt) DO NOTHING`,
			a.MessageID, a.N, a.TenantID, Micros(a.At), a.URL, a.StatusCode, a.Error, a.Duration.Microseconds()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE webhook_messages SET status = ?, next_attempt_at = ?, last_attempt_at = ?,
			last_status_code = ?, last_error = ?, finished_at = ? WHERE id = ? AND status = 'pending'`,
			string(status), Micros(next), Micros(a.At), a.StatusCode, a.Error, finished, a.MessageID)
		return err
	})
}

// Release makes a claimed pending message due at next.
func (s *WebhookStore) Release(ctx context.Context, id string, next time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE webhook_messages SET next_attempt_at = ?, attempts = attempts - 1
			WHERE id = ? AND status = 'pending' AND attempts > 0`, Micros(next), id)
		return err
	})
}

// Messages returns the tenant's messages matching f, newest first.
func (s *WebhookStore) Messages(ctx context.Context, tenantID string, f webhook.MessageFilter) ([]webhook.Message, error) {
	where := []string{"tenant_id = ?"}
	args := []any{tenantID}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Event != "" {
		where = append(where, "event = ?")
		args = append(args, f.Event)
	}
	if !f.Before.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, Micros(f.Before))
	}
	args = append(args, f.EffectiveLimit())
	rows, err := s.db.QueryContext(ctx, `SELECT `+webhookMessageColumns+` FROM webhook_messages WHERE `+
		strings.Join(where, " AND ")+` ORDER BY created_at DESC, id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return scanWebhookMessages(rows)
}

// Message returns one of the tenant's messages.
func (s *WebhookStore) Message(ctx context.Context, tenantID, id string) (webhook.Message, error) {
	m, err := scanWebhookMessage(s.db.QueryRowContext(ctx, `SELECT `+webhookMessageColumns+
		` FROM webhook_messages WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if err != nil {
		return webhook.Message{}, notFound(err, "webhook delivery")
	}
	return m, nil
}

// Attempts returns a message's attempts in order.
func (s *WebhookStore) Attempts(ctx context.Context, tenantID, id string) ([]webhook.Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT message_id, attempt, tenant_id, at, url, status_code, error, duration_us
		FROM webhook_attempts WHERE tenant_id = ? AND message_id = ? ORDER BY attempt`, tenantID, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhook.Attempt
	for rows.Next() {
		var a webhook.Attempt
		var at, dur int64
		if err := rows.Scan(&a.MessageID, &a.N, &a.TenantID, &at, &a.URL, &a.StatusCode, &a.Error, &dur); err != nil {
			return nil, err
		}
		a.At, a.Duration = FromMicros(at), time.Duration(dur)*time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// PruneMessages implements webhook.Store.
func (s *WebhookStore) PruneMessages(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *Tx) error {
		// Attempts go with their message (ON DELETE CASCADE).
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_messages WHERE id IN (
			SELECT id FROM webhook_messages WHERE status <> 'pending' AND finished_at < ? LIMIT ?)`, Micros(before), limit)
		if err != nil {
			return fmt.Errorf("prune webhook messages: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Retry puts a failed or cancelled message back in the queue, due now and
// retried until giveUpAt.
func (s *WebhookStore) Retry(ctx context.Context, tenantID, id string, now, giveUpAt time.Time) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM webhook_messages WHERE tenant_id = ? AND id = ?`+tx.ForUpdate(),
			tenantID, id).Scan(&status)
		if err != nil {
			return notFound(err, "webhook delivery")
		}
		if status != string(webhook.StatusFailed) && status != string(webhook.StatusCancelled) {
			return vargate.Errorf(vargate.KindConflict, "delivery %s is %s; only failed or cancelled deliveries can be retried", id, status)
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_messages SET status = 'pending', next_attempt_at = ?, give_up_at = ?,
			finished_at = NULL WHERE id = ?`, Micros(now), Micros(giveUpAt), id)
		return err
	})
}
