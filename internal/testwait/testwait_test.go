package testwait_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/testwait"
)

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	var n atomic.Int32
	testwait.For(t, time.Minute, "three checks", func() bool { return n.Add(1) == 3 })
	if n.Load() != 3 {
		t.Errorf("checked %d times, want 3", n.Load())
	}
}

// recorder captures Fatalf so that a failing For can be checked.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = format
	panic(r)
}

func TestForFailsAfterTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	defer func() {
		if recover() != r || !strings.Contains(r.msg, "timed out") {
			t.Errorf("For did not fail the test: %q", r.msg)
		}
	}()
	testwait.For(r, time.Millisecond, "never", func() bool { return false })
}
