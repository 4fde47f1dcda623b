package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
)

// Dialect names the SQL database behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a database opened by internal/sqlite or internal/postgres.
type DB struct {
	Dialect Dialect
	// Write is the pool used for transactions that write. For SQLite it has
	// one connection, so writers queue in Go rather than spin on SQLITE_BUSY.
	Write *sql.DB
	// Read is the pool for reads. For PostgreSQL it is the same as Write.
	Read *sql.DB
	// IsUniqueViolation reports whether err is a unique-constraint violation.
	IsUniqueViolation func(error) bool
	// IsRetryable reports whether a transaction failed for a reason that a
	// retry may fix (serialization failure, deadlock, busy).
	IsRetryable func(error) bool
	// Now is the clock used for timestamps written by stores.
	Now vargate.Clock
	// Guard, if set, watches the SQLite writer connection for a group
	// commit's transaction that ends early (see TxGuard); internal/sqlite
	// installs it as the connection's commit and rollback hooks.
	Guard *TxGuard

	rebound sync.Map // query string → dialect-specific query
	group   group    // SQLite: the write transactions queued for the writer
}

// Close closes both pools. InTx calls still queued for the SQLite writer
// fail; a batch already running finishes first.
func (db *DB) Close() error {
	db.group.close()
	err := db.Write.Close()
	if db.Read != db.Write {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.Read.PingContext(ctx)
}

// q rewrites a query written with ? placeholders for the dialect.
func (db *DB) q(query string) string {
	if db.Dialect != Postgres {
		return query
	}
	if v, ok := db.rebound.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	inString := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inString = !inString
			b.WriteByte(c)
		case c == '?' && !inString:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	s := b.String()
	db.rebound.Store(query, s)
	return s
}

// QueryContext runs a read query on the read pool.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.Read.QueryContext(ctx, db.q(query), args...)
}

// QueryRowContext runs a single-row read query on the read pool.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.Read.QueryRowContext(ctx, db.q(query), args...)
}

// Tx is a write transaction whose methods take ?-placeholder queries.
type Tx struct {
	tx     *sql.Tx
	db     *DB
	detach bool // a group commit's batch: statements ignore cancellation
}

// context returns the context a statement of tx runs with: in a group
// commit's batch (SQLite), ctx without its cancellation, so that one
// caller's ending context cannot interrupt a write and with it roll back
// the other callers' work; otherwise ctx. Code that runs statements of tx
// other than through its methods (a prepared *sql.Stmt) uses it too.
func (tx *Tx) context(ctx context.Context) context.Context {
	if tx.detach {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// ExecContext executes a statement in the transaction.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(tx.context(ctx), tx.db.q(query), args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(tx.context(ctx), tx.db.q(query), args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(tx.context(ctx), tx.db.q(query), args...)
}

// ForUpdate is the row-lock suffix for SELECTs that must serialise writers:
// " FOR UPDATE" on PostgreSQL; empty on SQLite, where the single writer
// connection and BEGIN IMMEDIATE already serialise.
func (tx *Tx) ForUpdate() string {
	if tx.db.Dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Dialect returns the transaction's dialect.
func (tx *Tx) Dialect() Dialect { return tx.db.Dialect }

// InTx runs fn in a write transaction, committing if fn returns nil and
// rolling back otherwise. Transactions that fail for a retryable reason are
// retried a few times with a short backoff, so fn may run more than once.
//
// On SQLite, concurrent calls share one transaction and one commit (group
// commit, see group.go), each fn in a savepoint of its own, with the same
// outcome for each caller as separate transactions run one after another.
// There fn's statements ignore ctx's cancellation once fn has started, and
// InTx waits for the commit; a fn that panics is rolled back and the panic
// raised again as a *PanicError. fn must not call InTx or use db.Write
// (the one writer connection is busy with its transaction), must not run
// COMMIT, ROLLBACK or BEGIN itself, and should be short.
func (db *DB) InTx(ctx context.Context, fn func(*Tx) error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if db.Dialect == SQLite {
			err = db.group.do(db, ctx, fn)
		} else {
			err = db.inTxOnce(ctx, fn)
		}
		if err == nil || db.IsRetryable == nil || !db.IsRetryable(err) {
			return db.translate(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return db.translate(err)
}

func (db *DB) inTxOnce(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := db.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&Tx{tx: sqlTx, db: db}); err != nil {
		_ = sqlTx.Rollback() // the error from fn is the one that matters
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// translate maps driver errors to vargate kinds; *vargate.Error passes.
func (db *DB) translate(err error) error {
	if err == nil {
		return nil
	}
	var ve *vargate.Error
	if errors.As(err, &ve) {
		return err
	}
	if db.IsUniqueViolation != nil && db.IsUniqueViolation(err) {
		return vargate.Wrap(vargate.KindConflict, err, "already exists")
	}
	return err
}

// Micros converts t to the stored form of a timestamp: Unix microseconds.
// Timestamps are stored as integers in both dialects so that ordering,
// range filters and hashing behave identically.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts a stored timestamp back to UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// NullMicros converts an optional stored timestamp.
func NullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := FromMicros(v.Int64)
	return &t
}

// notFound turns sql.ErrNoRows into a KindNotFound error for what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return vargate.NotFound(what)
	}
	return err
}
