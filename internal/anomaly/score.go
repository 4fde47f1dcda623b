package anomaly

import (
	"math"
	"sync"
	"time"

	"github.com/vargate/vargate"
)

// RiskLevel is a profile's tolerance for anomalous behaviour. It only
// sets the session threshold; the rules are the same at every level.
type RiskLevel string

// The risk levels.
const (
	RiskStrict     RiskLevel = "strict"
	RiskStandard   RiskLevel = "standard"
	RiskPermissive RiskLevel = "permissive"
)

// Session thresholds by risk level. With the weights of Severity.Weight
// (low 0.05, medium 0.35, high 0.7, critical 1.5) they mean, within about
// one half-life:
//   - strict: one high finding, or two medium ones;
//   - standard: one critical, two high, or four medium findings;
//   - permissive: two critical or four high findings.
const (
	ThresholdStrict     = 0.6
	ThresholdStandard   = 1.2
	ThresholdPermissive = 2.6
)

// DefaultHalfLife is how long it takes a session score to halve.
const DefaultHalfLife = 10 * time.Minute

// ParseRiskLevel returns the risk level named s; the empty string means
// RiskStandard.
func ParseRiskLevel(s string) (RiskLevel, error) {
	switch RiskLevel(s) {
	case "":
		return RiskStandard, nil
	case RiskStrict, RiskStandard, RiskPermissive:
		return RiskLevel(s), nil
	}
	return "", vargate.Invalid("risk_level", "unknown risk level %q (want strict, standard or permissive)", s)
}

// ThresholdFor returns the session score at which a session of the given
// risk level is interrupted. Unknown levels get the strict threshold, so
// a misconfigured profile fails closed.
func ThresholdFor(level RiskLevel) float64 {
	switch level {
	case RiskStandard, "":
		return ThresholdStandard
	case RiskPermissive:
		return ThresholdPermissive
	}
	return ThresholdStrict
}

// SessionScore accumulates verdict scores for one session, decaying
// exponentially with HalfLife. It is safe for concurrent use.
type SessionScore struct {
	// Threshold is the total at which Add reports a crossing.
	Threshold float64
	// HalfLife is how long it takes the total to halve; zero means
	// DefaultHalfLife.
	HalfLife time.Duration

	mu    sync.Mutex
	total float64
	last  time.Time
	mem   sessionMemory
}

// NewSessionScore returns a score with the threshold of level and the
// default half-life.
func NewSessionScore(level RiskLevel) *SessionScore {
	return &SessionScore{Threshold: ThresholdFor(level), HalfLife: DefaultHalfLife}
}

// Add decays the total to now, adds v.Score and returns the new total.
// crossed is true when v added to the score and the total is at or above
// the threshold: the caller should interrupt the session. Every further
// scoring call while the total stays above the threshold reports crossed
// again; calls that add nothing never do. Events that arrive out of order
// (now before the previous call) are added without decay.
//
// Add also judges v in the light of the session's earlier calls, as
// Judge does, and adds the score of the judged verdict.
func (s *SessionScore) Add(v Verdict, now time.Time) (total float64, crossed bool) {
	_, total, crossed = s.Judge(v, now)
	return total, crossed
}

// Judge is Add that also returns v as judged with the session's earlier
// calls: a call that sends data out after an earlier call read
// credentials gets an exfiltration finding, and a call that runs a
// script written earlier by a file tool inherits the findings about
// that script's content. Verdicts of calls without such a history are
// returned unchanged.
func (s *SessionScore) Judge(v Verdict, now time.Time) (judged Verdict, total float64, crossed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decay(now)
	v = s.mem.judgeSequence(v, now)
	s.total += v.Score
	return v, s.total, v.Score > 0 && s.total >= s.Threshold
}

// Total returns the decayed total at now without adding anything.
func (s *SessionScore) Total(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decay(now)
	return s.total
}

// Decayed returns a score total recorded at `at`, decayed to now with the
// default half-life.
func Decayed(total float64, at, now time.Time) float64 {
	s := SessionScore{total: total, last: at}
	s.decay(now)
	return s.total
}

func (s *SessionScore) decay(now time.Time) {
	if !s.last.IsZero() && now.After(s.last) && s.total > 0 {
		hl := s.HalfLife
		if hl <= 0 {
			hl = DefaultHalfLife
		}
		s.total *= math.Exp2(-float64(now.Sub(s.last)) / float64(hl))
		if s.total < 1e-9 {
			s.total = 0
		}
	}
	if now.After(s.last) {
		s.last = now
	}
}
