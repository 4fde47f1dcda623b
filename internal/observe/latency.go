package observe

import (
	"math"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the event-to-record
// latency histogram: the time from an event's processed_at (the API's
// clock) to its commit in the store (this gateway's clock).
var LatencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// Latency is a snapshot of the event-to-record latency histogram.
type Latency struct {
	// Counts[i] counts events with latency ≤ LatencyBuckets[i] and above
	// the bucket before (not cumulative); the last entry counts those
	// above every bound.
	Counts []uint64
	Count  uint64
	// Sum is the total latency in seconds.
	Sum float64
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of the latency by
// linear interpolation inside its bucket; 0 without observations.
func (l Latency) Quantile(q float64) time.Duration {
	if l.Count == 0 {
		return 0
	}
	rank := q * float64(l.Count)
	var seen float64
	for i, n := range l.Counts {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo := 0.0
			if i > 0 {
				lo = LatencyBuckets[i-1]
			}
			if i >= len(LatencyBuckets) {
				return time.Duration(lo * float64(time.Second))
			}
			hi := LatencyBuckets[i]
			f := (rank - seen) / float64(n)
			return time.Duration((lo + (hi-lo)*f) * float64(time.Second))
		}
		seen += float64(n)
	}
	return time.Duration(LatencyBuckets[len(LatencyBuckets)-1] * float64(time.Second))
}

// latency is the live histogram; safe for concurrent use.
type latency struct {
	counts [17]atomic.Uint64 // len(LatencyBuckets)+1
	count  atomic.Uint64
	sumNs  atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	if d < 0 {
		d = 0 // the API's clock is ahead of ours
	}
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	l.counts[i].Add(1)
	l.count.Add(1)
	l.sumNs.Add(min(int64(d), math.MaxInt64/2))
}

func (l *latency) snapshot() Latency {
	out := Latency{Counts: make([]uint64, len(LatencyBuckets)+1)}
	for i := range out.Counts {
		out.Counts[i] = l.counts[i].Load()
	}
	out.Count = l.count.Load()
	out.Sum = time.Duration(l.sumNs.Load()).Seconds()
	return out
}
