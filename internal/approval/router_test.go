package approval_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/vargate/vargate/internal/approval"
)

// owner is a fake approval.Owner that owns the actions whose IDs it
// lists and records what reaches it.
type owner struct {
	ids      map[string]bool
	executed []string
	settled  []string
}

func (o *owner) Owns(_ context.Context, a approval.Action) bool { return o.ids[a.ID] }

func (o *owner) ExecuteApproved(_ context.Context, a approval.Action) (json.RawMessage, error) {
	o.executed = append(o.executed, a.ID)
	return json.RawMessage(`{"owner":true}`), nil
}

func (o *owner) ActionSettled(_ context.Context, a approval.Action) error {
	o.settled = append(o.settled, a.ID)
	return nil
}

func TestRouterSendsOwnedActionsToOwner(t *testing.T) {
	ctx := t.Context()
	own := &owner{ids: map[string]bool{"act-owned": true}}
	exec := &executor{result: json.RawMessage(`{"governor":true}`)}
	note := &notifier{}
	r := approval.Router{Owner: own, Executor: exec, Notifier: note}

	res, err := r.ExecuteApproved(ctx, approval.Action{ID: "act-owned"})
	if err != nil || string(res) != `{"owner":true}` {
		t.Errorf("owned action executed: %s, %v; want the owner's result", res, err)
	}
	res, err = r.ExecuteApproved(ctx, approval.Action{ID: "act-other"})
	if err != nil || string(res) != `{"governor":true}` {
		t.Errorf("other action executed: %s, %v; want the executor's result", res, err)
	}
	if err := r.ActionSettled(ctx, approval.Action{ID: "act-owned"}); err != nil {
		t.Fatal(err)
	}
	if err := r.ActionSettled(ctx, approval.Action{ID: "act-other"}); err != nil {
		t.Fatal(err)
	}

	if len(own.executed) != 1 || own.executed[0] != "act-owned" || len(own.settled) != 1 || own.settled[0] != "act-owned" {
		t.Errorf("owner got executed %v, settled %v; want act-owned once each", own.executed, own.settled)
	}
	if exec.count() != 1 || exec.got[0].ID != "act-other" {
		t.Errorf("executor got %d calls (%v); want act-other once", exec.count(), exec.got)
	}
	if got := note.all(); len(got) != 1 || got[0].ID != "act-other" {
		t.Errorf("notifier got %v; want act-other once", got)
	}
}

func TestRouterWithoutOwnerOrNotifier(t *testing.T) {
	ctx := t.Context()
	exec := &executor{result: json.RawMessage(`{}`)}
	r := approval.Router{Executor: exec}
	if _, err := r.ExecuteApproved(ctx, approval.Action{ID: "act-1"}); err != nil || exec.count() != 1 {
		t.Errorf("without an owner: %v, %d executions; want the executor once", err, exec.count())
	}
	if err := r.ActionSettled(ctx, approval.Action{ID: "act-1"}); err != nil {
		t.Errorf("without a notifier: %v, want nil", err)
	}
}
