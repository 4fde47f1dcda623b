package sqlstore

import (
	"context"
	"fmt"

	"github.com/vargate/vargate/internal/session"
)

var _ session.CallCounter = (*SessionStore)(nil)

// ReserveCall implements session.CallCounter: one upsert that moves the
// session's call counter and returns the counters as they stood before
// it. On PostgreSQL the row lock orders concurrent reservations, on
// SQLite the single writer does; either way each call sees its own count.
func (s *SessionStore) ReserveCall(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error) {
	var c, d int64
	err = s.db.InTx(ctx, func(tx *Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO session_call_counters (tenant_id, session_id, calls, denials) VALUES (?, ?, 1, 0)
			ON CONFLICT (tenant_id, session_id) DO UPDATE SET calls = session_call_counters.calls + 1
			RETURNING calls, denials`, tenantID, sessionID).Scan(&c, &d)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("reserve session call: %w", err)
	}
	return int(c) - 1, int(d), nil
}

// CountDenial implements session.CallCounter.
func (s *SessionStore) CountDenial(ctx context.Context, tenantID, sessionID string) error {
	err := s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO session_call_counters (tenant_id, session_id, calls, denials) VALUES (?, ?, 0, 1)
			ON CONFLICT (tenant_id, session_id) DO UPDATE SET denials = session_call_counters.denials + 1`, tenantID, sessionID)
		return err
	})
	if err != nil {
		return fmt.Errorf("count session denial: %w", err)
	}
	return nil
}
