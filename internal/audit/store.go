package audit

import (
	"context"
	"time"

	"github.com/vargate/vargate"
)

// Store persists chains, Merkle nodes and checkpoints. Records, nodes and
// checkpoints are never updated or deleted.
type Store interface {
	// Append adds recs (normalized, possibly of several tenants) in one
	// transaction. For each tenant, in a fixed order, it locks the
	// tenant's chain head in the database, seals the tenant's records in
	// slice order (Head.SealAll, or Head.Seal on each), and writes the
	// records, the nodes the seal returned and the new head. On return without error every
	// record has its Seq, PrevHash and Hash set and is committed.
	Append(ctx context.Context, recs []*Record) error
	// Head returns the tenant's chain head; a tenant without records has
	// the zero head (Seq 0), not an error.
	Head(ctx context.Context, tenantID string) (Head, error)
	// HeadAndLastSeq returns the chain head together with the largest seq
	// among the tenant's records (0 if none), both from one consistent
	// read. An append writes both in one transaction, so they differ only
	// if records were written past the head behind the gateway's back —
	// and a verifier running beside live appends can tell those from
	// records appended since it started.
	HeadAndLastSeq(ctx context.Context, tenantID string) (Head, int64, error)
	// Tenants returns the IDs of the tenants that have a chain.
	Tenants(ctx context.Context) ([]string, error)
	// List returns the tenant's records matching f, newest first.
	List(ctx context.Context, tenantID string, f Filter) ([]Record, error)
	// Scan calls fn with the tenant's records whose seq is in [from, to]
	// (to 0: no upper bound) in seq order, streaming: the record passed
	// to fn is reused after fn returns. An error from fn stops the scan
	// and is returned.
	Scan(ctx context.Context, tenantID string, from, to int64, fn func(*Record) error) error
	// Hashes returns the hashes of records [from, to) in seq order.
	Hashes(ctx context.Context, tenantID string, from, to int64) ([]Hash, error)
	// Nodes returns the stored Merkle nodes at level with index in
	// [from, to), in index order.
	Nodes(ctx context.Context, tenantID string, level uint, from, to uint64) ([][]byte, error)
	// SaveCheckpoint stores c; saving a second checkpoint for the same
	// tenant and size is a no-op.
	SaveCheckpoint(ctx context.Context, c Checkpoint) error
	// LatestCheckpoint returns the tenant's largest checkpoint, or a
	// KindNotFound error.
	LatestCheckpoint(ctx context.Context, tenantID string) (Checkpoint, error)
	// CheckpointAt returns the tenant's checkpoint of the given size, or a
	// KindNotFound error.
	CheckpointAt(ctx context.Context, tenantID string, size int64) (Checkpoint, error)
	// Checkpoints returns all of the tenant's checkpoints by size.
	Checkpoints(ctx context.Context, tenantID string) ([]Checkpoint, error)
}

// Filter selects records for List. Zero fields do not filter.
type Filter struct {
	SessionID string
	Source    Source
	Tool      string
	Decision  string
	ActionID  string
	AgentID   string
	// Since and Until bound Time: Since ≤ Time < Until.
	Since, Until time.Time
	// BeforeSeq is the pagination cursor: only records with a smaller seq.
	BeforeSeq int64
	// Limit caps the number of records (DefaultListLimit when 0, at most
	// MaxListLimit).
	Limit int
}

// Page sizes for List.
const (
	DefaultListLimit = vargate.DefaultListLimit
	MaxListLimit     = vargate.MaxListLimit
)

// EffectiveLimit returns f.Limit clamped to [1, MaxListLimit], with 0 meaning DefaultListLimit.
func (f Filter) EffectiveLimit() int { return vargate.ListLimit(f.Limit) }

// Checkpoint is a signed statement of a tenant's tree size and root.
type Checkpoint struct {
	TenantID string    `json:"tenant_id"`
	Size     int64     `json:"tree_size"`
	Root     Hash      `json:"root_hash"`
	Note     string    `json:"checkpoint"` // the signed note, C2SP tlog-checkpoint
	Created  time.Time `json:"created_at"`
}
