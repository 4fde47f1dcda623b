package approval

import (
	"context"
	"encoding/json"
)

// Owner is implemented by an Executor and SessionNotifier that answers
// only for some actions: internal/observe owns the escalated confirmation
// requests of built-in tool calls.
type Owner interface {
	Executor
	SessionNotifier
	// Owns reports whether the action is one of the owner's.
	Owns(ctx context.Context, a Action) bool
}

// Router is the queue's Executor and SessionNotifier when two parties
// run approved actions: an action its Owner owns goes there, every other
// one to Executor (execution) and Notifier (settlement messages).
type Router struct {
	// Owner takes the actions it owns; nil owns none.
	Owner Owner
	// Executor runs every other approved action.
	Executor Executor
	// Notifier hears how every other action settled; nil tells no one.
	Notifier SessionNotifier
}

var (
	_ Executor        = Router{}
	_ SessionNotifier = Router{}
)

// ExecuteApproved implements Executor.
func (r Router) ExecuteApproved(ctx context.Context, a Action) (json.RawMessage, error) {
	if r.owns(ctx, a) {
		return r.Owner.ExecuteApproved(ctx, a)
	}
	return r.Executor.ExecuteApproved(ctx, a)
}

// ActionSettled implements SessionNotifier.
func (r Router) ActionSettled(ctx context.Context, a Action) error {
	if r.owns(ctx, a) {
		return r.Owner.ActionSettled(ctx, a)
	}
	if r.Notifier == nil {
		return nil
	}
	return r.Notifier.ActionSettled(ctx, a)
}

func (r Router) owns(ctx context.Context, a Action) bool {
	return r.Owner != nil && r.Owner.Owns(ctx, a)
}
