package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/vargate/vargate"
)

// DefaultMaxBatch caps the messages one outbox transaction writes.
const DefaultMaxBatch = 256

// writeTimeout bounds one group-commit transaction.
const writeTimeout = 30 * time.Second

type writeReq struct {
	m    Message
	errc chan error
}

// write adds m to the outbox and returns once it is committed. While the
// service is open, concurrent writes share one transaction (one fsync)
// through the group-commit writer, as the audit log does; otherwise m is
// inserted on its own.
func (s *Service) write(ctx context.Context, m Message) error {
	s.wmu.RLock()
	if s.writes == nil || s.wclosed {
		s.wmu.RUnlock()
		_, err := s.Store.InsertMessage(ctx, m)
		return err
	}
	req := &writeReq{m: m, errc: make(chan error, 1)}
	select {
	case s.writes <- req:
		s.wmu.RUnlock()
	case <-ctx.Done():
		s.wmu.RUnlock()
		return fmt.Errorf("webhook outbox: %w", ctx.Err())
	}
	select {
	case err := <-req.errc:
		return err
	case <-ctx.Done():
		return fmt.Errorf("webhook outbox (outcome unknown): %w", ctx.Err())
	}
}

// writer commits waiting writes in batches until the channel is closed.
func (s *Service) writer() {
	defer close(s.writerDone)
	maxBatch := vargate.OrDefault(s.MaxBatch, DefaultMaxBatch)
	batch := make([]*writeReq, 0, maxBatch)
	msgs := make([]Message, 0, maxBatch)
	for req := range s.writes {
		batch, msgs = append(batch[:0], req), append(msgs[:0], req.m)
	more:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break more
				}
				batch, msgs = append(batch, r), append(msgs, r.m)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := s.Store.InsertMessages(ctx, msgs)
		cancel()
		if err != nil {
			err = fmt.Errorf("write webhooks to outbox: %w", err)
		}
		for _, r := range batch {
			r.errc <- err
		}
		s.kick()
	}
}
