package compliance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
)

// DefaultReplayBudget is Service.ReplayBudget when zero: how long one
// replay may evaluate before it stops and reports what it did.
const DefaultReplayBudget = time.Minute

// probeRecords is how many recorded calls a draft is tried on before a
// replay starts: a draft that times out on them is refused at once.
const probeRecords = 3

// errBudget is the cause of a replay's context when its budget ran out.
var errBudget = errors.New("replay time budget ran out")

// errStop ends a record scan early without an error.
var errStop = errors.New("stop")

// replays tracks the tenants with a replay running in this process.
type replays struct {
	mu      sync.Mutex
	running map[string]bool
}

// acquire takes the tenant's one replay slot, or fails with KindConflict.
func (s *Service) acquireReplay(tenantID string) (release func(), err error) {
	s.replaying.mu.Lock()
	defer s.replaying.mu.Unlock()
	if s.replaying.running[tenantID] {
		return nil, vargate.Errorf(vargate.KindConflict, "a replay of this tenant is already running; wait for it to finish (or cancel it by closing its request)")
	}
	if s.replaying.running == nil {
		s.replaying.running = map[string]bool{}
	}
	s.replaying.running[tenantID] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			s.replaying.mu.Lock()
			delete(s.replaying.running, tenantID)
			s.replaying.mu.Unlock()
		})
	}, nil
}

func (s *Service) replayBudget() time.Duration {
	if s.ReplayBudget > 0 {
		return s.ReplayBudget
	}
	return DefaultReplayBudget
}

// Release gives back the tenant's replay slot of a replay that will not
// be run; WriteJSON releases it itself.
func (r *Replay) Release() {
	if r.release != nil {
		r.release()
	}
}

// probe tries a draft on the first recorded calls of the replay's range:
// if any still times out after the usual retries, the draft is refused
// (KindInvalid, modules) before a replay that would take every record
// into the timeout starts.
func (r *Replay) probe(ctx context.Context) error {
	if r.policy.Source != PolicyDraft {
		return nil
	}
	n := 0
	var slow *audit.Record
	err := r.records(ctx, audit.SourceMCPGoverned, func(rec *audit.Record) error {
		res := r.replayOne(ctx, rec)
		if res.skip != "" {
			return nil
		}
		if res.err != nil && timedOut(res.replayed) {
			c := rec.Clone()
			slow = &c
			return errStop
		}
		if n++; n >= probeRecords {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return fmt.Errorf("probe the draft: %w", err)
	}
	if slow != nil {
		return vargate.Invalid("modules", "the draft's evaluation of recorded call %d (%s) timed out: it would take every record of the replay into the timeout; make it cheaper", slow.Seq, slow.Tool)
	}
	return nil
}

// budgetSpent reports whether ctx ended because the replay's budget ran
// out (rather than the client leaving).
func budgetSpent(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), errBudget)
}
