package session

import (
	"context"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/cache"
	"github.com/vargate/vargate/internal/policy"
)

// CallCounter keeps the counters a policy reads as input.session.calls and
// .denials, in the database so that every gateway on it shares them.
// internal/sqlstore implements it.
type CallCounter interface {
	// ReserveCall atomically moves the session's call counter by one and
	// returns the counters as they stood before: concurrent reservations
	// (one batch, parallel requests, several gateways) each see a
	// different calls value.
	ReserveCall(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error)
	// CountDenial moves the session's denial counter by one.
	CountDenial(ctx context.Context, tenantID, sessionID string) error
	// CallCounts reads the counters without moving them (zero for a
	// session with none).
	CallCounts(ctx context.Context, tenantID, sessionID string) (calls, denials int, err error)
}

// AnomalyScores gives a session's anomaly score (the event consumer).
type AnomalyScores interface {
	AnomalyScore(ctx context.Context, tenantID, sessionID string) (float64, error)
}

// Defaults for Facts' zero fields.
const (
	// DefaultAgentFactTTL bounds how long an agent key's delegation depth
	// is reused.
	DefaultAgentFactTTL = time.Minute
	// DefaultScoreTTL bounds how long a session's anomaly score is reused.
	DefaultScoreTTL = time.Second
)

// CallerFacts are what the gateway knows of the caller of a governed call.
type CallerFacts struct {
	Session policy.Session
	// DelegationDepth is 0 for a root agent, 1 for its sub-agent, …
	DelegationDepth int
}

// Facts tells the policy what the gateway knows of a caller's session —
// its age, governed calls and denials so far, anomaly score — and its
// delegation depth.
//
// The call counter is reserved, not read: For moves it before the call is
// decided, in one atomic database write, so a budget such as
// `input.session.calls >= 3` lets at most three calls through however
// they arrive (a JSON-RPC batch, parallel requests, several gateways).
// A call that fails after its reservation still counts: budgets fail
// closed. Denials are counted by Decided as each call is decided.
//
// A session's start and chain never change and are kept in memory; an
// agent key's chain is kept for AgentFactTTL; the anomaly score is read
// from the event consumer at most every ScoreTTL.
type Facts struct {
	Sessions interface {
		SessionFor(ctx context.Context, p vargate.Principal) (Session, error)
	}
	Agents   *agent.Service
	Counters CallCounter
	// Scores is set once the event consumer exists; nil leaves the
	// anomaly score at 0.
	Scores AnomalyScores
	Now    vargate.Clock

	AgentFactTTL time.Duration
	ScoreTTL     time.Duration

	mu      sync.Mutex // guards the sessionFacts' scores
	bySess  cache.Cache[string, *sessionFact]
	byAgent cache.Cache[string, int] // delegation depths
}

type sessionFact struct {
	created time.Time
	depth   int
	score   float64
	scored  time.Time // zero: never
}

func (f *Facts) now() time.Time {
	if f.Now == nil {
		return time.Now().UTC()
	}
	return f.Now()
}

// For returns the facts of principal p's call and, for a session,
// reserves the call in the session's counter. An error fails the call
// closed.
func (f *Facts) For(ctx context.Context, p vargate.Principal) (CallerFacts, error) {
	return f.facts(ctx, p, true)
}

// Queued returns the facts for re-evaluating a call of p that For
// counted when it was made (an approved action): the counters as they
// stand, less that call, so that, as for a new call, Calls does not count
// the call being decided. Nothing is reserved.
func (f *Facts) Queued(ctx context.Context, p vargate.Principal) (CallerFacts, error) {
	c, err := f.facts(ctx, p, false)
	if c.Session.Calls > 0 {
		c.Session.Calls--
	}
	return c, err
}

func (f *Facts) facts(ctx context.Context, p vargate.Principal, reserve bool) (CallerFacts, error) {
	if p.SessionID == "" {
		depth, err := f.agentDepth(ctx, p)
		return CallerFacts{DelegationDepth: depth}, err
	}
	now := f.now()
	sf, err := f.session(ctx, p)
	if err != nil {
		return CallerFacts{}, err
	}
	score, err := f.score(ctx, p, sf, now)
	if err != nil {
		return CallerFacts{}, err
	}
	var calls, denials int
	switch {
	case f.Counters == nil:
	case reserve:
		calls, denials, err = f.Counters.ReserveCall(ctx, p.TenantID, p.SessionID)
	default:
		calls, denials, err = f.Counters.CallCounts(ctx, p.TenantID, p.SessionID)
	}
	if err != nil {
		return CallerFacts{}, err
	}
	return CallerFacts{
		Session: policy.Session{ID: p.SessionID, AgeSeconds: now.Sub(sf.created).Seconds(),
			Calls: calls, Denials: denials, AnomalyScore: score},
		DelegationDepth: sf.depth,
	}, nil
}

// Decided counts a decision of a call that For reserved: a deny moves the
// session's denial counter.
func (f *Facts) Decided(ctx context.Context, tenantID, sessionID, decision string) error {
	if f.Counters == nil || sessionID == "" || decision != policy.Deny {
		return nil
	}
	return f.Counters.CountDenial(ctx, tenantID, sessionID)
}

// session returns the session's fixed facts, from memory after the first
// call.
func (f *Facts) session(ctx context.Context, p vargate.Principal) (*sessionFact, error) {
	key := p.TenantID + "/" + p.SessionID
	if sf, ok := f.bySess.Get(key, time.Time{}); ok {
		return sf, nil
	}
	s, err := f.Sessions.SessionFor(ctx, p)
	if err != nil {
		return nil, err
	}
	sf := &sessionFact{created: s.CreatedAt, depth: s.DelegationDepth()}
	return f.bySess.GetOrAdd(key, time.Time{}, sf, time.Time{}), nil
}

// score returns the session's anomaly score, read again when older than
// ScoreTTL.
func (f *Facts) score(ctx context.Context, p vargate.Principal, sf *sessionFact, now time.Time) (float64, error) {
	if f.Scores == nil {
		return 0, nil
	}
	ttl := f.ScoreTTL
	if ttl <= 0 {
		ttl = DefaultScoreTTL
	}
	f.mu.Lock()
	score, fresh := sf.score, !sf.scored.IsZero() && now.Sub(sf.scored) < ttl
	f.mu.Unlock()
	if fresh {
		return score, nil
	}
	score, err := f.Scores.AnomalyScore(ctx, p.TenantID, p.SessionID)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	sf.score, sf.scored = score, now
	f.mu.Unlock()
	return score, nil
}

// agentDepth returns the delegation depth of an agent key's agent.
func (f *Facts) agentDepth(ctx context.Context, p vargate.Principal) (int, error) {
	key := p.TenantID + "/" + p.AgentID
	now := f.now()
	if depth, ok := f.byAgent.Get(key, now); ok {
		return depth, nil
	}
	c, err := f.Agents.Get(ctx, p.TenantID, p.AgentID)
	if err != nil {
		return 0, err
	}
	chain, err := f.Agents.Chain(ctx, c)
	if err != nil {
		return 0, err
	}
	ttl := f.AgentFactTTL
	if ttl <= 0 {
		ttl = DefaultAgentFactTTL
	}
	depth := len(chain) - 1
	f.byAgent.Add(key, depth, now.Add(ttl))
	return depth, nil
}
