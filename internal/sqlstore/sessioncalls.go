package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vargate/vargate/internal/session"
)

var _ session.CallCounter = (*SessionStore)(nil)

// ReserveCall implements session.CallCounter: an upsert that moves the
// session's call counter and returns the counters as they stood before
// it. On PostgreSQL the row lock orders concurrent reservations, on
// SQLite the single writer does; either way each call sees its own count.
// Reservations that arrive while another is being written are written
// together in the next transaction (group commit: one fsync for many
// calls), each still its own statement in arrival order.
func (s *SessionStore) ReserveCall(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error) {
	r := &counterOp{tenant: tenantID, session: sessionID, done: make(chan struct{})}
	if err := s.counts.do(ctx, s.db, r); err != nil {
		return 0, 0, fmt.Errorf("reserve session call: %w", err)
	}
	return r.calls - 1, r.denials, nil
}

// CountDenial implements session.CallCounter.
func (s *SessionStore) CountDenial(ctx context.Context, tenantID, sessionID string) error {
	r := &counterOp{tenant: tenantID, session: sessionID, denial: true, done: make(chan struct{})}
	if err := s.counts.do(ctx, s.db, r); err != nil {
		return fmt.Errorf("count session denial: %w", err)
	}
	return nil
}

// CallCounts implements session.CallCounter.
func (s *SessionStore) CallCounts(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error) {
	var c, d int64
	err = s.db.QueryRowContext(ctx, `SELECT calls, denials FROM session_call_counters WHERE tenant_id = ? AND session_id = ?`,
		tenantID, sessionID).Scan(&c, &d)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read session call counters: %w", err)
	}
	return int(c), int(d), nil
}

// counterOp is one counter change waiting to be written.
type counterOp struct {
	tenant, session string
	denial          bool // count a denial; otherwise reserve a call
	calls, denials  int  // after the change (reservations)
	err             error
	done            chan struct{}
}

// counterBatcher writes counter changes in batches: the caller that finds
// no writer running becomes the writer and writes the queue as one batch;
// changes that queued meanwhile are written by a goroutine it starts, so
// no caller waits for more than the batch after its own.
type counterBatcher struct {
	mu      sync.Mutex
	queue   []*counterOp
	writing bool
}

// maxCounterBatch bounds the changes written in one transaction, and
// counterTimeout the transaction.
const (
	maxCounterBatch = 256
	counterTimeout  = 10 * time.Second
)

func (b *counterBatcher) do(ctx context.Context, db *DB, op *counterOp) error {
	b.mu.Lock()
	b.queue = append(b.queue, op)
	lead := !b.writing
	b.writing = true
	b.mu.Unlock()
	if lead {
		b.write(db)
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
		// The change may still be written: a reservation the caller
		// abandons counts (fail closed).
		return ctx.Err()
	}
}

// write writes one batch of the queue, then hands what queued meanwhile
// to another writer.
func (b *counterBatcher) write(db *DB) {
	b.mu.Lock()
	n := min(len(b.queue), maxCounterBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	type result struct{ calls, denials int64 }
	results := make([]result, len(batch))
	ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
	err := db.InTx(ctx, func(tx *Tx) error {
		for i, op := range batch {
			if op.denial {
				if _, err := tx.ExecContext(ctx, `INSERT INTO session_call_counters (tenant_id, session_id, calls, denials) VALUES (?, ?, 0, 1)
					ON CONFLICT (tenant_id, session_id) DO UPDATE SET denials = session_call_counters.denials + 1`, op.tenant, op.session); err != nil {
					return err
				}
				continue
			}
			if err := tx.QueryRowContext(ctx, `INSERT INTO session_call_counters (tenant_id, session_id, calls, denials) VALUES (?, ?, 1, 0)
				ON CONFLICT (tenant_id, session_id) DO UPDATE SET calls = session_call_counters.calls + 1
				RETURNING calls, denials`, op.tenant, op.session).Scan(&results[i].calls, &results[i].denials); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	for i, op := range batch {
		op.calls, op.denials, op.err = int(results[i].calls), int(results[i].denials), err
		close(op.done)
	}

	b.mu.Lock()
	more := len(b.queue) > 0
	if !more {
		b.writing, b.queue = false, nil
	}
	b.mu.Unlock()
	if more {
		go b.write(db)
	}
}
