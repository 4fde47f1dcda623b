package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vargate/vargate/internal/audit"
)

// AuditStore implements audit.Store.
type AuditStore struct {
	db *DB

	mu    sync.Mutex
	stmts map[stmtKey]*sql.Stmt // SQLite: the append statements, prepared once
}

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns the audit trail store over db.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db, stmts: map[stmtKey]*sql.Stmt{}} }

// stmtKind names a statement of the SQLite append path.
type stmtKind int

const (
	stmtRecords    stmtKind = iota // INSERT of n records
	stmtNodes                      // INSERT of n Merkle nodes
	stmtSelectHead                 // the chain head of a tenant
	stmtCreateHead                 // a tenant's first (empty) head
	stmtUpdateHead                 // the head after a batch
)

// stmtKey names a prepared statement: its kind and, for the INSERTs, its
// row count.
type stmtKey struct {
	kind stmtKind
	n    int
}

const auditColumns = `tenant_id, seq, time, source, session_id, agent_id, action_id, tool, decision,
	policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor,
	detail, prev_hash, hash, outcome`

const auditColumnCount = 21

// auditReadColumns are the columns read back: all but tenant_id, which
// every query fixes in its WHERE clause (a record moved to another tenant
// simply goes missing from this one's chain).
const auditReadColumns = `seq, time, source, session_id, agent_id, action_id, tool, decision,
	policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor,
	detail, prev_hash, hash, outcome`

// maxInsertRows is the most records one INSERT writes on SQLite (1,344
// parameters, far below SQLite's limit). A tenant's records in a batch
// are written with as few statements as this allows: a batch of up to 64
// records is one statement, prepared once for its row count.
const maxInsertRows = 64

// nodeInsertChunks are the row counts of the prepared Merkle node
// INSERTs, largest first (a batch completes a node only every 256
// records, so a few sizes do).
var nodeInsertChunks = []int{16, 4, 1}

// The statements of the SQLite append path besides the INSERTs.
const (
	qSelectHead = `SELECT seq, hash, merkle FROM audit_heads WHERE tenant_id = ?`
	qCreateHead = `INSERT INTO audit_heads (tenant_id, seq, hash, merkle) VALUES (?, 0, ?, ?) ON CONFLICT (tenant_id) DO NOTHING`
	qUpdateHead = `UPDATE audit_heads SET seq = ?, hash = ?, merkle = ? WHERE tenant_id = ?`
)

// Append seals and writes recs in one transaction, tenant by tenant in
// ID order (a fixed lock order, so concurrent gateways cannot deadlock).
// Each tenant's chain head row is locked first — FOR UPDATE on
// PostgreSQL, the single write transaction on SQLite — so the sequence
// numbers and prev hashes assigned here are the chain's true next ones
// whichever process appends; UNIQUE (tenant_id, seq) backs that up.
func (s *AuditStore) Append(ctx context.Context, recs []*audit.Record) error {
	byTenant := map[string][]*audit.Record{}
	var tenants []string
	for _, r := range recs {
		if _, ok := byTenant[r.TenantID]; !ok {
			tenants = append(tenants, r.TenantID)
		}
		byTenant[r.TenantID] = append(byTenant[r.TenantID], r)
	}
	sort.Strings(tenants)
	if s.db.Dialect == SQLite {
		if err := s.prepare(ctx, byTenant); err != nil {
			return err
		}
	}
	return s.db.InTx(ctx, func(tx *Tx) error {
		ctx := tx.context(ctx) // the prepared statements bypass tx's methods
		for _, t := range tenants {
			if err := s.appendTenant(ctx, tx, t, byTenant[t]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *AuditStore) appendTenant(ctx context.Context, tx *Tx, tenantID string, recs []*audit.Record) error {
	if tx.Dialect() == Postgres {
		head, nodes, err := seal(recs, func() (audit.Head, error) { return lockHead(ctx, tx, tenantID) })
		if err != nil {
			return err
		}
		return insertRecordsPG(ctx, tx, recs, nodes, head)
	}
	head, nodes, err := seal(recs, func() (audit.Head, error) { return s.lockHeadSQLite(ctx, tx, tenantID) })
	if err != nil {
		return err
	}
	for len(recs) > 0 {
		n := min(len(recs), maxInsertRows)
		if err := s.insertRecords(ctx, tx, recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	for _, n := range nodeInsertChunks {
		for len(nodes) >= n {
			if err := s.insertNodes(ctx, tx, tenantID, nodes[:n]); err != nil {
				return err
			}
			nodes = nodes[n:]
		}
	}
	if _, err := s.stmt(ctx, tx, stmtKey{kind: stmtUpdateHead}).ExecContext(ctx,
		head.Seq, head.Hash[:], head.MarshalRange(), tenantID); err != nil {
		return fmt.Errorf("update audit chain head: %w", err)
	}
	return nil
}

// seal locks the tenant's chain head and seals recs onto it, returning
// the new head and the Merkle nodes the records completed.
func seal(recs []*audit.Record, lock func() (audit.Head, error)) (audit.Head, []audit.Node, error) {
	head, err := lock()
	if err != nil {
		return audit.Head{}, nil, err
	}
	nodes, err := head.SealAll(recs)
	if err != nil {
		return audit.Head{}, nil, err
	}
	return head, nodes, nil
}

// insertRecordsPG writes a whole batch, the Merkle nodes it completed and
// the new chain head in one statement, one round trip whatever the batch
// size: the records and nodes travel as one array per column and unnest
// into rows. (SQLite has neither arrays nor data-modifying WITH; it is
// in-process, so several statements cost little there.)
func insertRecordsPG(ctx context.Context, tx *Tx, recs []*audit.Record, nodes []audit.Node, head audit.Head) error {
	n := len(recs)
	var (
		tenant, source, session, agent, action, tool, decision = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		policy, decisionID, argsDigest, resultDigest, actor    = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reasons, args, anomaly, detail                         = make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
		seq, at                                                = make([]int64, n), make([]int64, n)
		prev, hash                                             = make([][]byte, n), make([][]byte, n)
		outcome                                                = make([]string, n)
	)
	for i, r := range recs {
		tenant[i], seq[i], at[i], source[i] = r.TenantID, r.Seq, Micros(r.Time), string(r.Source)
		session[i], agent[i], action[i], tool[i], decision[i] = r.SessionID, r.AgentID, r.ActionID, r.Tool, r.Decision
		policy[i], decisionID[i], argsDigest[i], resultDigest[i], actor[i] = r.PolicyVersion, r.DecisionID, r.ArgsDigest, r.ResultDigest, r.Actor
		if len(r.Reasons) > 0 {
			s, err := reasonsJSON(r.Reasons)
			if err != nil {
				return err
			}
			reasons[i] = &s
		}
		args[i], anomaly[i], detail[i] = jsonPtr(r.ArgsRedacted), jsonPtr(r.Anomaly), jsonPtr(r.Detail)
		prev[i], hash[i], outcome[i] = r.PrevHash[:], r.Hash[:], string(r.Outcome)
	}
	levels, idx, nodeHashes := make([]int64, len(nodes)), make([]int64, len(nodes)), make([][]byte, len(nodes))
	for i, nd := range nodes {
		levels[i], idx[i], nodeHashes[i] = int64(nd.Level), int64(nd.Index), nd.Hash
	}
	_, err := tx.ExecContext(ctx, `WITH ins AS (
		INSERT INTO audit_log (`+auditColumns+`)
		SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[],
			?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bytea[], ?::bytea[], ?::text[])
	), nodes AS (
		INSERT INTO audit_merkle_nodes (tenant_id, level, idx, hash)
		SELECT ?, l, i, h FROM unnest(?::bigint[], ?::bigint[], ?::bytea[]) AS n(l, i, h))
		UPDATE audit_heads SET seq = ?, hash = ?, merkle = ? WHERE tenant_id = ?`,
		tenant, seq, at, source, session, agent, action, tool, decision, policy, decisionID, reasons, argsDigest,
		args, resultDigest, anomaly, actor, detail, prev, hash, outcome,
		head.TenantID, levels, idx, nodeHashes,
		head.Seq, head.Hash[:], head.MarshalRange(), head.TenantID)
	if err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	return nil
}

func ptr(s string) *string { return &s }

func jsonPtr(b json.RawMessage) *string {
	if len(b) == 0 {
		return nil
	}
	return ptr(string(b))
}

// lockHead returns the tenant's chain head, locked for this transaction,
// creating the row for a tenant's first record.
func lockHead(ctx context.Context, tx *Tx, tenantID string) (audit.Head, error) {
	head, err := selectHead(ctx, tx, tenantID)
	if !errors.Is(err, sql.ErrNoRows) {
		return head, err
	}
	var zero audit.Hash
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (tenant_id, seq, hash, merkle) VALUES (?, 0, ?, ?)
		ON CONFLICT (tenant_id) DO NOTHING`, tenantID, zero[:], []byte{}); err != nil {
		return audit.Head{}, fmt.Errorf("create audit chain head: %w", err)
	}
	return selectHead(ctx, tx, tenantID)
}

func selectHead(ctx context.Context, tx *Tx, tenantID string) (audit.Head, error) {
	return scanHead(tx.QueryRowContext(ctx, `SELECT seq, hash, merkle FROM audit_heads WHERE tenant_id = ?`+tx.ForUpdate(), tenantID), tenantID)
}

func scanHead(row *sql.Row, tenantID string) (audit.Head, error) {
	h := audit.Head{TenantID: tenantID}
	var hash, merkle []byte
	if err := row.Scan(&h.Seq, &hash, &merkle); err != nil {
		return audit.Head{}, err
	}
	if len(hash) != len(h.Hash) {
		return audit.Head{}, fmt.Errorf("audit chain head of tenant %q: hash of %d bytes", tenantID, len(hash))
	}
	copy(h.Hash[:], hash)
	if err := h.UnmarshalRange(merkle); err != nil {
		return audit.Head{}, err
	}
	return h, nil
}

// lockHeadSQLite is lockHead with the prepared statements: the single
// write transaction is the lock.
func (s *AuditStore) lockHeadSQLite(ctx context.Context, tx *Tx, tenantID string) (audit.Head, error) {
	sel := s.stmt(ctx, tx, stmtKey{kind: stmtSelectHead})
	head, err := scanHead(sel.QueryRowContext(ctx, tenantID), tenantID)
	if !errors.Is(err, sql.ErrNoRows) {
		return head, err
	}
	var zero audit.Hash
	if _, err := s.stmt(ctx, tx, stmtKey{kind: stmtCreateHead}).ExecContext(ctx, tenantID, zero[:], []byte{}); err != nil {
		return audit.Head{}, fmt.Errorf("create audit chain head: %w", err)
	}
	return scanHead(sel.QueryRowContext(ctx, tenantID), tenantID)
}

// prepare prepares, once each, the statements an append of byTenant
// needs (SQLite). It must run outside a transaction: the write pool's
// only connection would be taken.
func (s *AuditStore) prepare(ctx context.Context, byTenant map[string][]*audit.Record) error {
	keys := []stmtKey{{kind: stmtSelectHead}, {kind: stmtCreateHead}, {kind: stmtUpdateHead}}
	for _, n := range nodeInsertChunks {
		keys = append(keys, stmtKey{kind: stmtNodes, n: n})
	}
	for _, recs := range byTenant {
		if n := len(recs); n >= maxInsertRows {
			keys = append(keys, stmtKey{kind: stmtRecords, n: maxInsertRows})
		}
		if n := len(recs) % maxInsertRows; n > 0 {
			keys = append(keys, stmtKey{kind: stmtRecords, n: n})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, ok := s.stmts[k]; ok {
			continue
		}
		st, err := s.db.Write.PrepareContext(ctx, s.db.q(k.query()))
		if err != nil {
			return fmt.Errorf("prepare audit statement: %w", err)
		}
		s.stmts[k] = st
	}
	return nil
}

// query is the SQL of the statement k names.
func (k stmtKey) query() string {
	switch k.kind {
	case stmtSelectHead:
		return qSelectHead
	case stmtCreateHead:
		return qCreateHead
	case stmtUpdateHead:
		return qUpdateHead
	}
	head, row := `INSERT INTO audit_log (`+auditColumns+`) VALUES `, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if k.kind == stmtNodes {
		head, row = `INSERT INTO audit_merkle_nodes (tenant_id, level, idx, hash) VALUES `, "(?, ?, ?, ?)"
	}
	return head + strings.Repeat(row+", ", k.n-1) + row
}

// stmt returns a prepared statement, bound to tx.
func (s *AuditStore) stmt(ctx context.Context, tx *Tx, k stmtKey) *sql.Stmt {
	s.mu.Lock()
	st := s.stmts[k]
	s.mu.Unlock()
	return tx.tx.StmtContext(ctx, st)
}

// insertNodes writes Merkle nodes of the tenant with the prepared INSERT
// of len(nodes) rows (SQLite).
func (s *AuditStore) insertNodes(ctx context.Context, tx *Tx, tenantID string, nodes []audit.Node) error {
	args := make([]any, 0, 4*len(nodes))
	for _, nd := range nodes {
		args = append(args, tenantID, int64(nd.Level), int64(nd.Index), nd.Hash)
	}
	if _, err := s.stmt(ctx, tx, stmtKey{kind: stmtNodes, n: len(nodes)}).ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert merkle nodes: %w", err)
	}
	return nil
}

// insertRecords writes recs with the prepared INSERT of len(recs) rows
// (SQLite).
func (s *AuditStore) insertRecords(ctx context.Context, tx *Tx, recs []*audit.Record) error {
	st := s.stmt(ctx, tx, stmtKey{kind: stmtRecords, n: len(recs)})
	args := make([]any, 0, len(recs)*auditColumnCount)
	for _, r := range recs {
		var reasons any // NULL
		if len(r.Reasons) > 0 {
			s, err := reasonsJSON(r.Reasons)
			if err != nil {
				return err
			}
			reasons = s
		}
		args = append(args, r.TenantID, r.Seq, Micros(r.Time), string(r.Source), r.SessionID, r.AgentID,
			r.ActionID, r.Tool, r.Decision, r.PolicyVersion, r.DecisionID, reasons, r.ArgsDigest,
			nullJSON(r.ArgsRedacted), r.ResultDigest, nullJSON(r.Anomaly), r.Actor, nullJSON(r.Detail),
			r.PrevHash[:], r.Hash[:], string(r.Outcome))
	}
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("insert audit records: %w", err)
	}
	return nil
}

// nullJSON is a JSON column's argument: NULL for an empty field, else the
// JSON as a string (TEXT; a []byte would be stored as a BLOB).
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// reasonsJSON returns the reasons column: rs as json.Marshal writes it.
// Reasons of printable ASCII that encoding/json does not escape (the
// common case) are joined directly.
func reasonsJSON(rs []string) (string, error) {
	n := 2
	for _, r := range rs {
		for i := 0; i < len(r); i++ {
			if c := r[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				b, err := json.Marshal(rs)
				return string(b), err
			}
		}
		n += len(r) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(r)
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String(), nil
}

// recordScanner scans audit_log rows, reusing its buffers.
type recordScanner struct {
	time                           int64
	source, outcome                string
	reasons, args, anomaly, detail sql.RawBytes
	prev, hash                     sql.RawBytes
}

// scan reads one row of auditColumns into rec. With keep false the JSON
// fields of rec alias the row's buffers, valid only until the next row.
func (sc *recordScanner) scan(rows *sql.Rows, rec *audit.Record, keep bool) error {
	return sc.fill(rows, rec, keep, &rec.TenantID)
}

// scanOf reads one row of auditReadColumns (no tenant_id) of tenantID.
func (sc *recordScanner) scanOf(rows *sql.Rows, tenantID string, rec *audit.Record, keep bool) error {
	rec.TenantID = tenantID
	return sc.fill(rows, rec, keep)
}

func (sc *recordScanner) fill(rows *sql.Rows, rec *audit.Record, keep bool, lead ...any) error {
	dest := append(lead, &rec.Seq, &sc.time, &sc.source, &rec.SessionID, &rec.AgentID, &rec.ActionID,
		&rec.Tool, &rec.Decision, &rec.PolicyVersion, &rec.DecisionID, &sc.reasons, &rec.ArgsDigest, &sc.args,
		&rec.ResultDigest, &sc.anomaly, &rec.Actor, &sc.detail, &sc.prev, &sc.hash, &sc.outcome)
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rec.Time = FromMicros(sc.time)
	rec.Source = audit.Source(sc.source)
	rec.Outcome = audit.Outcome(sc.outcome)
	rec.Reasons = parseReasons(sc.reasons)
	rec.ArgsRedacted = rawJSON(sc.args, keep)
	rec.Anomaly = rawJSON(sc.anomaly, keep)
	rec.Detail = rawJSON(sc.detail, keep)
	// A hash column of the wrong length leaves a zeroed or truncated hash,
	// which then fails verification like any other alteration.
	rec.PrevHash, rec.Hash = audit.Hash{}, audit.Hash{}
	copy(rec.PrevHash[:], sc.prev)
	copy(rec.Hash[:], sc.hash)
	return nil
}

// parseReasons reads the reasons column, a JSON array of strings. Arrays
// without escapes (the common case) are split directly: without a
// backslash no element can contain a quote, so `","` only separates. A
// column that is not such an array — only tampering makes one — is kept
// whole as the single reason, so that it fails verification as an
// alteration instead of aborting the scan.
func parseReasons(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if bytes.IndexByte(b, '\\') < 0 && len(b) >= 4 && b[0] == '[' && b[1] == '"' && b[len(b)-2] == '"' && b[len(b)-1] == ']' {
		parts := bytes.Split(b[2:len(b)-2], []byte(`","`))
		out := make([]string, len(parts))
		for i, p := range parts {
			out[i] = string(p)
		}
		return out
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return []string{string(b)}
	}
	return out
}

func rawJSON(b sql.RawBytes, keep bool) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if keep {
		return append(json.RawMessage(nil), b...)
	}
	return json.RawMessage(b)
}

// Head returns the tenant's chain head, or the zero head.
func (s *AuditStore) Head(ctx context.Context, tenantID string) (audit.Head, error) {
	h, err := scanHead(s.db.QueryRowContext(ctx, `SELECT seq, hash, merkle FROM audit_heads WHERE tenant_id = ?`, tenantID), tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{TenantID: tenantID}, nil
	}
	return h, err
}

// HeadAndLastSeq returns the chain head and the largest seq among the
// tenant's records from one statement, so from one snapshot (a missing
// head row reads as the zero head).
func (s *AuditStore) HeadAndLastSeq(ctx context.Context, tenantID string) (audit.Head, int64, error) {
	h := audit.Head{TenantID: tenantID}
	var seq, last sql.NullInt64
	var hash, merkle []byte
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT seq FROM audit_heads WHERE tenant_id = ?),
		(SELECT hash FROM audit_heads WHERE tenant_id = ?),
		(SELECT merkle FROM audit_heads WHERE tenant_id = ?),
		(SELECT MAX(seq) FROM audit_log WHERE tenant_id = ?)`, tenantID, tenantID, tenantID, tenantID).
		Scan(&seq, &hash, &merkle, &last)
	if err != nil {
		return audit.Head{}, 0, fmt.Errorf("read audit chain head: %w", err)
	}
	h.Seq = seq.Int64
	copy(h.Hash[:], hash)
	if err := h.UnmarshalRange(merkle); err != nil {
		return audit.Head{}, 0, err
	}
	return h, last.Int64, nil
}

// Tenants returns the tenants with a chain, by ID.
func (s *AuditStore) Tenants(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tenant_id FROM audit_heads ORDER BY tenant_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// List returns the tenant's records matching f, newest first.
func (s *AuditStore) List(ctx context.Context, tenantID string, f audit.Filter) ([]audit.Record, error) {
	q, args := auditListQuery(s.db.Dialect, tenantID, f)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	defer rows.Close()
	var sc recordScanner
	recs := []audit.Record{}
	for rows.Next() {
		var r audit.Record
		if err := sc.scanOf(rows, tenantID, &r, true); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// auditListQuery is List's query. A filter on session or action also
// states that the column is not empty: the partial indexes
// audit_log_session and audit_log_action cover only such rows, and
// neither database can use them for "= ?" alone, since the parameter
// might be empty. SQLite, without statistics, still prefers walking the
// tenant's whole chain in seq order to an index that is not covering;
// it is told to use the index, which returns exactly the session's (or
// action's) records, already in seq order.
func auditListQuery(d Dialect, tenantID string, f audit.Filter) (string, []any) {
	where := []string{"tenant_id = ?"}
	args := []any{tenantID}
	for _, c := range []struct {
		col, v string
	}{
		{"session_id", f.SessionID}, {"source", string(f.Source)}, {"tool", f.Tool},
		{"decision", f.Decision}, {"action_id", f.ActionID}, {"agent_id", f.AgentID},
	} {
		if c.v == "" {
			continue
		}
		where = append(where, c.col+" = ?")
		args = append(args, c.v)
		if c.col == "session_id" || c.col == "action_id" {
			where = append(where, c.col+" <> ''")
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, Micros(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, Micros(f.Until))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	args = append(args, f.EffectiveLimit())
	from := "audit_log"
	if d == SQLite {
		switch {
		case f.SessionID != "":
			from += " INDEXED BY audit_log_session"
		case f.ActionID != "":
			from += " INDEXED BY audit_log_action"
		}
	}
	return `SELECT ` + auditReadColumns + ` FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq DESC LIMIT ?`, args
}

// Scan streams the tenant's records with seq in [from, to] (to 0: all).
func (s *AuditStore) Scan(ctx context.Context, tenantID string, from, to int64, fn func(*audit.Record) error) error {
	q := `SELECT ` + auditReadColumns + ` FROM audit_log WHERE tenant_id = ? AND seq >= ?`
	args := []any{tenantID, from}
	if to > 0 {
		q += ` AND seq <= ?`
		args = append(args, to)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("scan audit records: %w", err)
	}
	defer rows.Close()
	var sc recordScanner
	var rec audit.Record
	for rows.Next() {
		if err := sc.scanOf(rows, tenantID, &rec, false); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Hashes returns the hashes of records [from, to) in seq order.
func (s *AuditStore) Hashes(ctx context.Context, tenantID string, from, to int64) ([]audit.Hash, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash FROM audit_log WHERE tenant_id = ? AND seq >= ? AND seq < ? ORDER BY seq`,
		tenantID, from, to)
	if err != nil {
		return nil, fmt.Errorf("read audit hashes: %w", err)
	}
	defer rows.Close()
	hs := make([]audit.Hash, 0, max(0, min(to-from, 1<<20)))
	var b sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var h audit.Hash
		copy(h[:], b)
		hs = append(hs, h)
	}
	return hs, rows.Err()
}

// Nodes returns stored Merkle nodes at level with index in [from, to).
func (s *AuditStore) Nodes(ctx context.Context, tenantID string, level uint, from, to uint64) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash FROM audit_merkle_nodes WHERE tenant_id = ? AND level = ? AND idx >= ? AND idx < ? ORDER BY idx`,
		tenantID, int64(level), int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read merkle nodes: %w", err)
	}
	defer rows.Close()
	var hs [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, rows.Err()
}

// SaveCheckpoint stores c unless the tenant has one of that size already.
func (s *AuditStore) SaveCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	return s.db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, tree_size) DO NOTHING`,
			c.TenantID, c.Size, c.Root[:], c.Note, Micros(c.Created))
		return err
	})
}

const checkpointColumns = `tenant_id, tree_size, root_hash, note, created_at`

func scanCheckpoint(sc interface{ Scan(...any) error }) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	var root []byte
	var created int64
	if err := sc.Scan(&c.TenantID, &c.Size, &root, &c.Note, &created); err != nil {
		return audit.Checkpoint{}, err
	}
	copy(c.Root[:], root)
	c.Created = FromMicros(created)
	return c, nil
}

// LatestCheckpoint returns the tenant's largest checkpoint.
func (s *AuditStore) LatestCheckpoint(ctx context.Context, tenantID string) (audit.Checkpoint, error) {
	c, err := scanCheckpoint(s.db.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE tenant_id = ? ORDER BY tree_size DESC LIMIT 1`, tenantID))
	if err != nil {
		return audit.Checkpoint{}, notFound(err, "audit checkpoint")
	}
	return c, nil
}

// CheckpointAt returns the tenant's checkpoint of the given size.
func (s *AuditStore) CheckpointAt(ctx context.Context, tenantID string, size int64) (audit.Checkpoint, error) {
	c, err := scanCheckpoint(s.db.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE tenant_id = ? AND tree_size = ?`, tenantID, size))
	if err != nil {
		return audit.Checkpoint{}, notFound(err, "audit checkpoint")
	}
	return c, nil
}

// Checkpoints returns the tenant's checkpoints by size.
func (s *AuditStore) Checkpoints(ctx context.Context, tenantID string) ([]audit.Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE tenant_id = ? ORDER BY tree_size`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("read audit checkpoints: %w", err)
	}
	defer rows.Close()
	var cs []audit.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}
