package govern_test

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/tools"
)

// BenchmarkCall measures the pipeline alone — configuration (cached),
// schema, PII, policy, no-op connector, audit record built and normalised
// — without transport or database (the audit append is in memory).
func BenchmarkCall(b *testing.B) {
	for _, bc := range []struct {
		name, tool, args string
		want             govern.Status
	}{
		{"allow", tools.WebSearch, `{"query":"enterprise AI governance frameworks","max_results":5}`, govern.Executed},
		{"deny", tools.WebSearch, `{"query":"AKIAIOSFODNN7EXAMPLE"}`, govern.Denied},
		{"approval", tools.SendEmail, `{"to":"bob@example.com","subject":"Report","body":"Please find the summary below."}`, govern.Pending},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b)
			args := json.RawMessage(bc.args)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				out, err := f.gov.Call(b.Context(), f.p, bc.tool, args)
				if err != nil || out.Status != bc.want {
					b.Fatalf("%v %v", out.Status, err)
				}
				if len(f.audit.recs) > 1000 {
					f.audit.recs = f.audit.recs[:0]
					f.queue.reqs = f.queue.reqs[:0]
				}
			}
			// CPU per call (garbage collection included) does not depend on
			// what else the machine runs, unlike ns/op.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
