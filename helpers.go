package vargate

import (
	"cmp"
	"context"
	"time"
)

// Page sizes of the list operations: DefaultListLimit when the caller
// asks for none, never more than MaxListLimit.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListLimit returns limit clamped to [1, MaxListLimit], with zero or less
// meaning DefaultListLimit.
func ListLimit(limit int) int {
	if limit <= 0 {
		return DefaultListLimit
	}
	return min(limit, MaxListLimit)
}

// OrDefault returns v, or def when v is zero or less: a setting left
// unset (or set to nonsense) takes its default.
func OrDefault[T cmp.Ordered](v, def T) T {
	var zero T
	if v <= zero {
		return def
	}
	return v
}

// Every calls fn at once and then every interval until ctx ends; fn gets
// ctx. A background task (pruning, sweeping) uses it to run at start and
// then periodically.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
