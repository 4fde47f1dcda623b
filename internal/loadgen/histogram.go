package loadgen

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^(subBits-1) linear buckets, so a recorded value is off by less than
// 1/2^(subBits-1) (0.8 %) of itself.
const (
	subBits    = 7
	subCount   = 1 << subBits // 128: values below are exact
	subHalf    = subCount / 2 // 64 buckets per power of two above
	numBuckets = (64-subBits)*subHalf + subCount
)

// Histogram counts durations in log-linear buckets (nanoseconds; exact
// below 128 ns, within 0.8 % above), as HdrHistogram does with two
// significant digits. The zero value is empty and ready. It is not safe
// for concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// bucket returns the index of the bucket holding v (v ≥ 0).
func bucket(v int64) int {
	b := bits.Len64(uint64(v))
	shift := max(b-subBits, 0)
	return shift*subHalf + int(v>>shift)
}

// highest returns the largest value bucket i holds.
func highest(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i/subHalf - 1
	sub := int64(i - shift*subHalf)
	return (sub+1)<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucket(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.total++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Mean is the average recorded duration.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Max is the largest recorded duration (exact).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest recorded duration (exact).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Quantile returns the duration at or below which the fraction q (0–1)
// of the recorded values lie: the highest value of the bucket the q-th
// value falls in, capped at Max (HdrHistogram's "highest equivalent
// value"; never below the truth, at most 0.8 % above it).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q*float64(h.total) + 0.5)
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(highest(i), h.max))
		}
	}
	return time.Duration(h.max)
}
