package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
)

// Every query that reads audit_log on SQLite searches an index: none
// walks the whole table (or a whole index), whatever the tenant's or
// the other tenants' log size. The queries are not listed here but
// recorded from the stores themselves, through a driver that notes every
// statement it prepares, while the audit store, the audit log (verify,
// proofs, bundle) and the session store do their reads.
func TestAuditQueriesSearchIndexes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}

	rec := &recordingDriver{Driver: db.Write.Driver(), seen: map[string]bool{}}
	conn := sql.OpenDB(recordingConnector{rec, "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"})
	conn.SetMaxOpenConns(1)
	defer conn.Close()
	rdb := &sqlstore.DB{Dialect: sqlstore.SQLite, Write: conn, Read: conn, Now: func() time.Time { return time.Now().UTC() },
		IsUniqueViolation: func(error) bool { return false }, IsRetryable: func(error) bool { return false }}

	signer, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewAuditStore(rdb)
	l := audit.New(store, signer)
	l.CheckpointInterval = -1
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"t0", "t1"} {
		var recs []audit.Record
		for i := range 300 {
			recs = append(recs, audit.Record{TenantID: tenant, Source: audit.SourceMCPGoverned, SessionID: fmt.Sprintf("vs-%d", i%3),
				ActionID: fmt.Sprintf("act-%d", i), AgentID: "agent-1", Tool: "send_email", Decision: "allow", Outcome: audit.OutcomeExecuted})
		}
		if _, errs := l.AppendAll(ctx, recs); errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
	}
	defer l.Close()

	from := time.Now().Add(-time.Hour)
	for _, f := range []audit.Filter{
		{}, {SessionID: "vs-1"}, {SessionID: "vs-1", Source: audit.SourceMCPGoverned}, {ActionID: "act-7"},
		{Source: audit.SourceMCPGoverned}, {Tool: "send_email"}, {Decision: "deny"}, {AgentID: "agent-1"},
		{Since: from}, {Until: time.Now()}, {Since: from, Until: time.Now()}, {BeforeSeq: 100},
		{SessionID: "vs-2", BeforeSeq: 100}, {ActionID: "act-9", Decision: "allow"}, {Tool: "x", AgentID: "y", BeforeSeq: 9},
	} {
		if _, err := store.List(ctx, "t1", f); err != nil {
			t.Fatal(err)
		}
	}
	each := func(*audit.Record) error { return nil }
	if err := store.Scan(ctx, "t1", 1, 0, each); err != nil {
		t.Fatal(err)
	}
	if err := store.Scan(ctx, "t1", 10, 20, each); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Hashes(ctx, "t1", 1, 50); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.HeadAndLastSeq(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if v, err := l.Verify(ctx, "t1"); err != nil || !v.Valid {
		t.Fatalf("verify: %+v, %v", v, err)
	}
	if _, _, err := l.InclusionProof(ctx, "t1", 7, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ConsistencyProof(ctx, "t1", 100, 300); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Bundle(ctx, "t1", audit.Filter{SessionID: "vs-1"}); err != nil {
		t.Fatal(err)
	}
	sessions := sqlstore.NewSessionStore(rdb)
	if _, err := sessions.Counters(ctx, "t1", "vs-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := sessions.Audit(ctx, "t1", "vs-1", 0, 100); err != nil {
		t.Fatal(err)
	}

	fullScan := regexp.MustCompile(`(?m)^SCAN audit_log\b`)
	queries := rec.queries()
	var checked int
	for _, q := range queries {
		trimmed := strings.ToUpper(strings.TrimSpace(q))
		if !strings.Contains(q, "audit_log") || !(strings.HasPrefix(trimmed, "SELECT") || strings.HasPrefix(trimmed, "WITH")) {
			continue
		}
		checked++
		plan := explain(t, db, q)
		t.Logf("%s\n%s", oneLine(q), plan)
		if fullScan.MatchString(plan) {
			t.Errorf("a full scan of audit_log:\n%s\n%s", q, plan)
		}
		// A search by the tenant alone reads the tenant's whole chain: a
		// query for one session's records must use the session index.
		if strings.Contains(q, "session_id = ?") && !strings.Contains(plan, "audit_log_session") {
			t.Errorf("a session's records read without the session index:\n%s\n%s", q, plan)
		}
	}
	if checked < 10 {
		t.Errorf("only %d queries of audit_log recorded; the recording driver saw:\n%s", checked, strings.Join(queries, "\n"))
	}
}

// explain returns the query plan of q, one detail per line, with every
// parameter NULL (none of these plans depends on a parameter's value).
func explain(t *testing.T, db *sqlstore.DB, q string) string {
	t.Helper()
	args := make([]any, strings.Count(q, "?"))
	rows, err := db.Read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// recordingDriver wraps a driver and notes the text of every statement
// prepared on its connections. Its connections offer only Prepare, so
// database/sql prepares every query and exec.
type recordingDriver struct {
	driver.Driver
	mu   sync.Mutex
	seen map[string]bool
	list []string
}

func (d *recordingDriver) note(q string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.seen[q] {
		d.seen[q] = true
		d.list = append(d.list, q)
	}
}

func (d *recordingDriver) queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.list)
}

type recordingConnector struct {
	d   *recordingDriver
	dsn string
}

func (c recordingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &recordingConn{conn, c.d}, nil
}

func (c recordingConnector) Driver() driver.Driver { return c.d }

type recordingConn struct {
	driver.Conn
	d *recordingDriver
}

func (c *recordingConn) Prepare(q string) (driver.Stmt, error) {
	c.d.note(q)
	return c.Conn.Prepare(q)
}

func (c *recordingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.note(q)
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c *recordingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}
