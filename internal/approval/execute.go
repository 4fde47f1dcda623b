package approval

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/vargate/vargate"
)

// begin registers an execution with Close; it reports false once the
// service is closed.
func (s *Service) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// run executes an approved action at most once: it claims the action
// (approved → executing, with a lease) in its own committed transaction,
// audits the intent, opens the arguments, calls the Executor and records
// the outcome. If another process claimed it first, run does nothing. It
// returns the record as it stands afterwards.
func (s *Service) run(ctx context.Context, rec Record) Record {
	if s.Executor == nil || !s.begin() {
		return rec // closing (or nothing to run it): the sweeper starts it later
	}
	defer s.wg.Done()
	return s.execute(ctx, rec)
}

// resume starts rec in the background for the sweeper, counted from now:
// a Close that follows waits for it rather than racing its start. An
// unopened service (tests) runs it at once; a closing one leaves it to
// the next start's sweeper.
func (s *Service) resume(ctx context.Context, rec Record) {
	s.mu.Lock()
	opened, closed := s.opened, s.closed
	if opened && !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	switch {
	case closed:
	case !opened:
		s.run(ctx, rec)
	default:
		go func() {
			defer s.wg.Done()
			s.execute(ctx, rec)
		}()
	}
}

// execute is run's body, for a caller that has counted it in s.wg.
func (s *Service) execute(ctx context.Context, rec Record) Record {
	start := s.now()
	cur, ev, err := s.Store.Transition(ctx, Transition{
		TenantID: rec.TenantID, ID: rec.ID, From: []Status{StatusApproved}, To: StatusExecuting, At: start,
		Event:  Event{ID: newEventID(), Actor: ActorSystem, Note: "runner " + s.runner()},
		Runner: s.runner(), LeaseUntil: start.Add(s.executeTimeout() + s.leaseSlack()),
	})
	if err != nil {
		if !vargate.IsKind(err, vargate.KindConflict) {
			s.Logger.LogAttrs(ctx, slog.LevelError, "could not start approved action",
				slog.String(logKeyAction, rec.ID), slog.String(logKeyError, err.Error()))
		}
		if got, gerr := s.Store.Get(ctx, rec.TenantID, rec.ID); gerr == nil {
			return got
		}
		return rec
	}
	// The intent must be on the audit trail before anything runs.
	if !s.settle(ctx, cur, ev) {
		return s.finish(ctx, cur, nil, &Failure{Code: FailureAuditUnavailable,
			Message: "the intent to execute could not be written to the audit trail, so the action was not executed"})
	}
	args, err := s.openArgs(ctx, cur)
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "cannot open sealed arguments",
			slog.String(logKeyAction, rec.ID), slog.String(logKeyError, err.Error()))
		return s.finish(ctx, cur, nil, &Failure{Code: FailureSealed,
			Message: "the sealed arguments could not be opened, so the action was not executed"})
	}
	a := cur.Action
	a.Args = args
	xctx, cancel := context.WithTimeout(ctx, s.executeTimeout())
	result, err := s.Executor.ExecuteApproved(xctx, a)
	cancel()
	if err != nil {
		// Whatever came back with an error is not a result to hand on.
		return s.finish(ctx, cur, nil, s.failureOf(ctx, cur, err))
	}
	return s.finish(ctx, cur, result, nil)
}

func (s *Service) runner() string {
	if s.Runner == "" {
		s.mu.Lock()
		if s.Runner == "" {
			s.Runner = vargate.NewID("run_", 8)
		}
		s.mu.Unlock()
	}
	return s.Runner
}

// failureOf turns an Executor error into the Failure the approver and the
// agent see. Errors without a client-safe message are logged, not shown.
func (s *Service) failureOf(ctx context.Context, rec Record, err error) *Failure {
	var pd *PolicyDeniedError
	if errors.As(err, &pd) {
		return &Failure{Code: FailurePolicyDenied, Message: ErrPolicyNowDenies.Error(), Reasons: pd.Reasons}
	}
	if errors.Is(err, ErrPolicyNowDenies) {
		return &Failure{Code: FailurePolicyDenied, Message: ErrPolicyNowDenies.Error()}
	}
	var ve *vargate.Error
	if errors.As(err, &ve) && ve.Kind != vargate.KindInternal {
		return &Failure{Code: FailureExecution, Message: ve.Message}
	}
	s.Logger.LogAttrs(ctx, slog.LevelError, "approved action failed",
		slog.String(logKeyAction, rec.ID), slog.String(logKeyError, err.Error()))
	if errors.Is(err, context.DeadlineExceeded) {
		return &Failure{Code: FailureExecution, Message: "the tool did not finish within " + s.executeTimeout().String()}
	}
	return &Failure{Code: FailureExecution, Message: "the tool failed; the gateway's log has the detail"}
}

// finish records the outcome of an execution: executed with its result,
// or failed. If the action is no longer executing (the sweeper presumed
// this runner dead), the outcome is logged and the stored state kept.
func (s *Service) finish(ctx context.Context, cur Record, result json.RawMessage, failure *Failure) Record {
	t := Transition{
		TenantID: cur.TenantID, ID: cur.ID, From: []Status{StatusExecuting}, To: StatusExecuted, At: s.now(),
		Event: Event{ID: newEventID(), Actor: ActorSystem}, Failure: failure,
	}
	if failure != nil {
		t.To = StatusFailed
		t.Event.Note = failure.Message
	}
	if len(result) > 0 {
		t.ResultDigest = Digest(result)
		t.ResultStored = append([]byte(nil), result...)
		if cur.Sensitive {
			sealed, err := s.seal(ctx, cur.TenantID, resultPurpose(cur.ID), result)
			if err != nil {
				// Keep the digest; never store a sensitive result in clear.
				s.Logger.LogAttrs(ctx, slog.LevelError, "cannot seal result; storing only its digest",
					slog.String(logKeyAction, cur.ID), slog.String(logKeyError, err.Error()))
				t.ResultStored = nil
			} else {
				t.ResultStored, t.ResultSealed = sealed, true
			}
		}
	}
	var out Record
	var ev Event
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		out, ev, err = s.Store.Transition(ctx, t)
		if err == nil || vargate.IsKind(err, vargate.KindConflict) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "could not record the outcome of an executed action",
			slog.String(logKeyAction, cur.ID), slog.String(logKeyStatus, string(t.To)),
			slog.String(logKeyDigest, t.ResultDigest), slog.String(logKeyError, err.Error()))
		if got, gerr := s.Store.Get(ctx, cur.TenantID, cur.ID); gerr == nil {
			return got
		}
		return cur
	}
	s.settle(ctx, out, ev)
	return out
}

func (s *Service) seal(ctx context.Context, tenantID, purpose string, b []byte) ([]byte, error) {
	if s.Sealer == nil {
		return nil, vargate.Errorf(vargate.KindUnavailable, "no sealing key is configured")
	}
	return s.Sealer.Seal(ctx, tenantID, purpose, b)
}

// orphan marks an action whose executing lease ran out as failed: the
// gateway that ran it died (or hung) mid-call, so whether the tool took
// effect is unknown. It is never run again.
func (s *Service) orphan(ctx context.Context, rec Record) error {
	out, ev, err := s.Store.Transition(ctx, Transition{
		TenantID: rec.TenantID, ID: rec.ID, From: []Status{StatusExecuting}, To: StatusFailed, At: s.now(),
		Event: Event{ID: newEventID(), Actor: ActorSystem, Note: "execution lease of " + rec.Runner + " ran out"},
		Failure: &Failure{Code: FailureInterrupted,
			Message: "the gateway stopped while this action was executing; whether it took effect is unknown, and it was not run again"},
	})
	if vargate.IsKind(err, vargate.KindConflict) {
		return nil // it finished after all
	}
	if err != nil {
		return err
	}
	s.Logger.LogAttrs(ctx, slog.LevelWarn, "approved action interrupted by a gateway stop; marked failed",
		slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyAction, rec.ID))
	s.settle(ctx, out, ev)
	return nil
}

// sweepBatch is how many rows one sweep step handles per query.
const sweepBatch = 100

// Sweep does the periodic work once: expires pending actions past their
// expiry, fails actions whose executing lease ran out, starts approved
// actions that never started, and completes side effects left undone. The
// background sweeper calls it; tests call it with a moved clock.
func (s *Service) Sweep(ctx context.Context) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	now := s.now()
	var errs []error
	step := func(status Status, before time.Time, fn func(Record) error) {
		for range 50 {
			recs, err := s.Store.Due(ctx, status, before, sweepBatch)
			if err != nil {
				errs = append(errs, err)
				return
			}
			progress := false
			for _, rec := range recs {
				if err := fn(rec); err != nil {
					errs = append(errs, err)
					continue
				}
				progress = true
			}
			if len(recs) < sweepBatch || !progress {
				return
			}
		}
	}
	step(StatusPending, now, func(r Record) error { _, err := s.expire(ctx, r); return err })
	step(StatusExecuting, now, func(r Record) error { return s.orphan(ctx, r) })
	// Started in the background: an execution may take minutes.
	var recs []Record
	var err error
	if s.Executor != nil {
		if recs, err = s.Store.Due(ctx, StatusApproved, now.Add(-s.resumeAfter()), sweepBatch); err != nil {
			errs = append(errs, err)
		}
	}
	for _, rec := range recs {
		s.Logger.LogAttrs(ctx, slog.LevelInfo, "starting approved action that never started",
			slog.String(logKeyTenant, rec.TenantID), slog.String(logKeyAction, rec.ID))
		s.resume(context.WithoutCancel(ctx), rec)
	}
	evs, err := s.Store.Unsettled(ctx, now.Add(-s.settleAfter()), sweepBatch)
	if err != nil {
		errs = append(errs, err)
	}
	for _, ev := range evs {
		rec, err := s.Store.Get(ctx, ev.TenantID, ev.ActionID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.settle(ctx, rec, ev)
	}
	return errors.Join(errs...)
}
