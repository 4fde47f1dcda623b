package compliance

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
)

// Defaults for Service's zero fields.
const (
	// DefaultPageSize is how many records one read fetches.
	DefaultPageSize = 500
	// DefaultMaxEvidence is how many record sequence numbers each AGCS
	// control lists; the count is always complete.
	DefaultMaxEvidence = 1000
	// DefaultReplayRange is the time range of a tenant replay without
	// "from": the week before "to".
	DefaultReplayRange = 7 * 24 * time.Hour
)

// Sessions returns a tenant's session, or a not-found error for a
// session of another tenant (session.Service).
type Sessions interface {
	Get(ctx context.Context, tenantID, id string) (session.Session, error)
}

// Agents returns one version of an agent configuration (agent.Service).
type Agents interface {
	GetVersion(ctx context.Context, tenantID, id string, version int) (agent.Config, error)
}

// SessionRecords reads a session's audit records with seq above afterSeq,
// oldest first, at most limit (the session store).
type SessionRecords interface {
	Audit(ctx context.Context, tenantID, sessionID string, afterSeq int64, limit int) ([]audit.Record, error)
}

// Policies evaluates recorded inputs against policy versions
// (policy.Engine).
type Policies interface {
	ActiveVersion(ctx context.Context, tenantID string) (*policy.Version, error)
	Version(ctx context.Context, tenantID, label string) (*policy.Version, error)
	Evaluate(ctx context.Context, v *policy.Version, in *policy.Input) (policy.Decision, error)
}

// Service builds compliance exports and replays policy. Set the exported
// fields (New fills the defaults); it is safe for concurrent use.
type Service struct {
	Sessions Sessions
	Agents   Agents
	Records  SessionRecords
	// Audit signs the checkpoint of an export and reads the tenant's
	// Merkle tree for its proofs and records for tenant replays.
	Audit *audit.Log
	// Policy evaluates replays; nil: replay is unavailable.
	Policy Policies
	Logger *slog.Logger
	Now    vargate.Clock

	PageSize    int
	MaxEvidence int
	// Workers evaluate a replay in parallel; zero means GOMAXPROCS.
	Workers int
	// ReplayBudget bounds one replay's evaluation (DefaultReplayBudget if
	// zero); a tenant runs one replay at a time (per gateway process).
	ReplayBudget time.Duration

	replaying replays
}

// New returns a Service with defaults filled in.
func New(sessions Sessions, agents Agents, records SessionRecords, log *audit.Log, policies Policies) *Service {
	return &Service{
		Sessions: sessions, Agents: agents, Records: records, Audit: log, Policy: policies,
		Logger:      slog.New(slog.DiscardHandler),
		Now:         func() time.Time { return time.Now().UTC() },
		PageSize:    DefaultPageSize,
		MaxEvidence: DefaultMaxEvidence,
	}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) pageSize() int {
	if s.PageSize > 0 {
		return s.PageSize
	}
	return DefaultPageSize
}

func (s *Service) maxEvidence() int {
	if s.MaxEvidence > 0 {
		return s.MaxEvidence
	}
	return DefaultMaxEvidence
}

func (s *Service) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// sessionRecords calls fn with the session's records with seq up to
// maxSeq, oldest first, reading a page at a time. The record passed to fn
// belongs to the current page only.
func (s *Service) sessionRecords(ctx context.Context, tenantID, sessionID string, maxSeq int64, fn func(*audit.Record) error) error {
	var after int64
	n := s.pageSize()
	for {
		page, err := s.Records.Audit(ctx, tenantID, sessionID, after, n)
		if err != nil {
			return err
		}
		for i := range page {
			if page[i].Seq > maxSeq {
				return nil
			}
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) == 0 {
			return nil // a store may return less than asked: only an empty page ends
		}
		after = page[len(page)-1].Seq
	}
}
