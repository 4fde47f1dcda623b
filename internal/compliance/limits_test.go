package compliance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/compliance"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// TestReplayOnePerTenant: while a tenant's replay is prepared or
// running, another of the same tenant is a conflict; other tenants are
// not held up; the slot comes back when the replay is written, and when
// its client goes away.
func TestReplayOnePerTenant(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	e.call(t, s, tools.WebSearch, `{"query":"q"}`)
	first, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{}); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("second replay of t1: %v, want a conflict", err)
	}
	if _, err := e.svc.ReplaySession(t.Context(), "t1", s.ID, compliance.ReplayRequest{}); !vargate.IsKind(err, vargate.KindConflict) {
		t.Errorf("session replay of t1 meanwhile: %v, want a conflict", err)
	}
	other, err := e.svc.ReplayTenant(t.Context(), "t2", compliance.TenantReplayRequest{})
	if err != nil {
		t.Fatalf("t2 is held up by t1: %v", err)
	}
	writeReplay(t, other)
	writeReplay(t, first)
	again, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{})
	if err != nil {
		t.Fatalf("after the first finished: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // the client left
	if err := again.WriteJSON(ctx, &bytes.Buffer{}); err == nil {
		t.Error("a replay whose client left finished")
	}
	if r, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{}); err != nil {
		t.Errorf("after a cancelled replay: %v", err)
	} else {
		r.Release()
	}
}

// stuck times every evaluation out, as a draft that loops does.
type stuck struct {
	compliance.Policies
	n atomic.Int64
}

func (s *stuck) Evaluate(context.Context, *policy.Version, *policy.Input) (policy.Decision, error) {
	s.n.Add(1)
	return policy.Decision{Decision: policy.Deny, Reasons: []string{"policy_timeout: policy evaluation did not finish within 100ms"}}, errors.New("timed out")
}

// TestReplayRefusesADraftThatTimesOut: a draft whose evaluation of the
// first recorded call times out is refused (422 modules) after a few
// evaluations, not run over every record; the tenant's slot is free again.
func TestReplayRefusesADraftThatTimesOut(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	for range 50 {
		e.call(t, s, tools.WebSearch, `{"query":"q"}`)
	}
	slow := &stuck{Policies: e.engine}
	e.svc.Policy = slow
	_, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{ReplayRequest: compliance.ReplayRequest{Modules: stricter}})
	var ve *vargate.Error
	if !errors.As(err, &ve) || ve.Kind != vargate.KindInvalid || ve.Field != "modules" || !strings.Contains(ve.Message, "timed out") {
		t.Fatalf("slow draft: %v, want invalid modules", err)
	}
	if n := slow.n.Load(); n > 5 {
		t.Errorf("the refusal took %d evaluations", n)
	}
	if _, err := e.svc.ReplaySession(t.Context(), "t1", s.ID, compliance.ReplayRequest{Modules: stricter}); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("slow draft, session replay: %v", err)
	}
	e.svc.Policy = e.engine
	r, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{ReplayRequest: compliance.ReplayRequest{Modules: stricter}})
	if err != nil {
		t.Fatalf("the slot was not given back: %v", err)
	}
	r.Release()
}

// sleepy takes its time over every evaluation.
type sleepy struct{ compliance.Policies }

func (s sleepy) Evaluate(ctx context.Context, v *policy.Version, in *policy.Input) (policy.Decision, error) {
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
	}
	return s.Policies.Evaluate(ctx, v, in)
}

// TestReplayBudget: a replay that outlives its budget stops, and its
// report (still valid JSON) says it is incomplete and counts only what
// was evaluated in time.
func TestReplayBudget(t *testing.T) {
	e := newEnv(t)
	s := e.newSession(t, "t1")
	for range 40 {
		e.call(t, s, tools.WebSearch, `{"query":"q"}`)
	}
	e.svc.Policy, e.svc.Workers, e.svc.PageSize = sleepy{e.engine}, 1, 5
	e.svc.ReplayBudget = 150 * time.Millisecond
	r, err := e.svc.ReplayTenant(t.Context(), "t1", compliance.TenantReplayRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	var rep compliance.ReplayReport
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b.Bytes())
	}
	if rep.Incomplete == "" || rep.TotalReplayed >= 40 || rep.Errors != 0 {
		t.Errorf("over budget: %+v", rep)
	}
}
