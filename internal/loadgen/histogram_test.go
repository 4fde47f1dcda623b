package loadgen_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/loadgen"
)

func TestHistogramQuantilesWithinPrecision(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h loadgen.Histogram
	vals := make([]time.Duration, 0, 100_000)
	for range 100_000 {
		// Log-uniform from 1 µs to 1 s, like latencies.
		v := time.Duration(float64(time.Microsecond) * pow10(r.Float64()*6))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		idx := min(int(q*float64(len(vals))+0.5), len(vals)) - 1
		want := vals[max(idx, 0)]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/64 {
			t.Errorf("Quantile(%v) = %v, want %v (within 1/64 above)", q, got, want)
		}
	}
	if h.Count() != 100_000 || h.Max() != vals[len(vals)-1] || h.Min() != vals[0] {
		t.Errorf("count %d max %v min %v, want 100000 %v %v", h.Count(), h.Max(), h.Min(), vals[len(vals)-1], vals[0])
	}
}

func pow10(x float64) float64 {
	v := 1.0
	for x >= 1 {
		v *= 10
		x--
	}
	// 10^x for x in [0,1) by exp(x ln 10), good enough for a test.
	e, term := 1.0, 1.0
	for i := 1; i < 30; i++ {
		term *= x * 2.302585092994046 / float64(i)
		e += term
	}
	return v * e
}

func TestHistogramExactBelow128AndMerge(t *testing.T) {
	var a, b loadgen.Histogram
	for v := range 100 {
		a.Record(time.Duration(v))
	}
	b.Record(5 * time.Second)
	b.Record(-time.Second) // counts as zero
	a.Merge(&b)
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, 0},
		{0.5, 49}, // 102 values: 0, 0, 1, …, 99, 5s; the 51st is 49
		{0.98, 98},
		{1, 5 * time.Second},
	}
	for _, tc := range tests {
		if got := a.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if a.Count() != 102 || a.Max() != 5*time.Second || a.Min() != 0 {
		t.Errorf("count %d max %v min %v", a.Count(), a.Max(), a.Min())
	}
	var empty loadgen.Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram is not zero")
	}
}
