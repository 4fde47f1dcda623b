package web

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/vargate/vargate/internal/audit"
)

// blockingAudit's Verify runs until its context ends.
type blockingAudit struct {
	started chan struct{}
	calls   atomic.Int32
	stopped atomic.Bool
}

func (a *blockingAudit) Verify(ctx context.Context, _ string, _ ...string) (audit.VerifyResult, error) {
	if a.calls.Add(1) == 1 {
		close(a.started)
	}
	<-ctx.Done()
	a.stopped.Store(true)
	return audit.VerifyResult{}, ctx.Err()
}

func (a *blockingAudit) LatestCheckpoint(context.Context, string) (audit.Checkpoint, error) {
	return audit.Checkpoint{}, nil
}

func (a *blockingAudit) PublicKey() string { return "" }

// TestCloseStopsVerification: Close cancels a running audit verification
// (it would otherwise run on for up to verifyTimeout, past the database)
// and returns only once it has stopped; none starts after.
func TestCloseStopsVerification(t *testing.T) {
	a := &blockingAudit{started: make(chan struct{})}
	s := &Server{Audit: a}
	s.setup()
	if st := s.verify(t.Context(), "t1", 0, 0); !st.Running {
		t.Fatal("no verification started")
	}
	<-a.started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.stopped.Load() {
		t.Fatal("Close returned before the verification stopped")
	}
	st := s.verify(t.Context(), "t1", 0, 0)
	if st.Running || st.Last == nil || !st.Last.Failed {
		t.Errorf("after Close: %+v, want the cancelled run's result, nothing running", st)
	}
	if n := a.calls.Load(); n != 1 {
		t.Errorf("%d verifications, want 1 (none after Close)", n)
	}
}

// TestCloseWithoutUse: a dashboard never mounted closes at once.
func TestCloseWithoutUse(t *testing.T) {
	if err := (&Server{}).Close(); err != nil {
		t.Fatal(err)
	}
}
