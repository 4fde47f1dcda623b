package anomaly_test

import (
	"math"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/anomaly"
)

func verdictOf(sev anomaly.Severity) anomaly.Verdict {
	return anomaly.Verdict{Flags: []anomaly.Flag{{Category: anomaly.CategoryDestructive, Severity: sev}}, Severity: sev, Score: sev.Weight()}
}

func TestSessionScoreThresholds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		level  anomaly.RiskLevel
		events []anomaly.Severity // one per second
		want   int                // index of the first crossing event, -1 for none
	}{
		{anomaly.RiskStrict, []anomaly.Severity{anomaly.SeverityHigh}, 0},
		{anomaly.RiskStrict, []anomaly.Severity{anomaly.SeverityMedium, anomaly.SeverityMedium}, 1},
		{anomaly.RiskStrict, []anomaly.Severity{anomaly.SeverityLow, anomaly.SeverityLow, anomaly.SeverityLow}, -1},
		{anomaly.RiskStandard, []anomaly.Severity{anomaly.SeverityHigh}, -1},
		{anomaly.RiskStandard, []anomaly.Severity{anomaly.SeverityCritical}, 0},
		{anomaly.RiskStandard, []anomaly.Severity{anomaly.SeverityHigh, anomaly.SeverityHigh}, 1},
		{anomaly.RiskStandard, []anomaly.Severity{anomaly.SeverityMedium, anomaly.SeverityMedium, anomaly.SeverityMedium, anomaly.SeverityMedium}, 3},
		{anomaly.RiskPermissive, []anomaly.Severity{anomaly.SeverityCritical, anomaly.SeverityHigh}, -1},
		{anomaly.RiskPermissive, []anomaly.Severity{anomaly.SeverityCritical, anomaly.SeverityCritical}, 1},
	}
	for _, tt := range tests {
		s := anomaly.NewSessionScore(tt.level)
		got := -1
		for i, sev := range tt.events {
			if _, crossed := s.Add(verdictOf(sev), t0.Add(time.Duration(i)*time.Second)); crossed && got < 0 {
				got = i
			}
		}
		if got != tt.want {
			t.Errorf("%s %v: first crossing at %d, want %d", tt.level, tt.events, got, tt.want)
		}
	}
}

func TestSessionScoreDecay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &anomaly.SessionScore{Threshold: 1, HalfLife: time.Minute}
	s.Add(verdictOf(anomaly.SeverityCritical), t0)
	if got, want := s.Total(t0.Add(time.Minute)), 0.75; math.Abs(got-want) > 1e-9 {
		t.Errorf("total after one half-life = %v, want %v", got, want)
	}
	if got, want := s.Total(t0.Add(3*time.Minute)), 0.1875; math.Abs(got-want) > 1e-9 {
		t.Errorf("total after three half-lives = %v, want %v", got, want)
	}
	// two highs far apart do not add up to a crossing
	s = &anomaly.SessionScore{Threshold: anomaly.ThresholdStandard, HalfLife: 10 * time.Minute}
	s.Add(verdictOf(anomaly.SeverityHigh), t0)
	if _, crossed := s.Add(verdictOf(anomaly.SeverityHigh), t0.Add(time.Hour)); crossed {
		t.Error("two highs an hour apart crossed the standard threshold")
	}
	// an event without findings never reports a crossing, even above the threshold
	s = &anomaly.SessionScore{Threshold: 1}
	s.Add(verdictOf(anomaly.SeverityCritical), t0)
	if total, crossed := s.Add(anomaly.Verdict{}, t0); crossed || total < 1 {
		t.Errorf("empty verdict: total %v crossed %v, want total >= 1 and no crossing", total, crossed)
	}
	// out-of-order events add without decay
	s = &anomaly.SessionScore{Threshold: 10, HalfLife: time.Minute}
	s.Add(verdictOf(anomaly.SeverityHigh), t0.Add(time.Hour))
	if total, _ := s.Add(verdictOf(anomaly.SeverityHigh), t0); math.Abs(total-1.4) > 1e-9 {
		t.Errorf("out-of-order total = %v, want 1.4", total)
	}
}

func TestRiskLevels(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want anomaly.RiskLevel
	}{{"", anomaly.RiskStandard}, {"strict", anomaly.RiskStrict}, {"standard", anomaly.RiskStandard}, {"permissive", anomaly.RiskPermissive}} {
		got, err := anomaly.ParseRiskLevel(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseRiskLevel(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := anomaly.ParseRiskLevel("lax"); !vargate.IsKind(err, vargate.KindInvalid) {
		t.Errorf("ParseRiskLevel(lax) error = %v, want an invalid error", err)
	}
	if !(anomaly.ThresholdFor(anomaly.RiskStrict) < anomaly.ThresholdFor(anomaly.RiskStandard) &&
		anomaly.ThresholdFor(anomaly.RiskStandard) < anomaly.ThresholdFor(anomaly.RiskPermissive)) {
		t.Error("thresholds do not grow from strict to permissive")
	}
	if got := anomaly.ThresholdFor("unknown"); got != anomaly.ThresholdStrict {
		t.Errorf("ThresholdFor(unknown) = %v, want the strict threshold (fail closed)", got)
	}
}
