package tools

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
)

// Defaults for DatabaseConnector's zero fields.
const (
	DefaultMaxRows          = 1000
	DefaultMaxResultBytes   = 1 << 20
	DefaultStatementTimeout = 5 * time.Second
	// DefaultMaxPools bounds the connection pools kept open, one per
	// registered database credential version.
	DefaultMaxPools = 64
)

// ReadDatabaseInput is the arguments of vargate_read_database.
type ReadDatabaseInput struct {
	Query  string `json:"query" jsonschema:"one read-only SQL statement (SELECT, WITH, VALUES, TABLE, SHOW or EXPLAIN); use $1, $2, … for parameters"`
	Params []any  `json:"params,omitempty" jsonschema:"values for $1, $2, …: strings, numbers, booleans or null"`
}

// ReadDatabaseResult is the structured result of vargate_read_database.
type ReadDatabaseResult struct {
	Columns  []string `json:"columns"`
	Rows     [][]any  `json:"rows"`
	RowCount int      `json:"row_count"`
	// Truncated says rows were left out to stay within the row or byte cap.
	Truncated bool `json:"truncated"`
}

// DatabaseConnector runs read-only SQL against the PostgreSQL database the
// tenant registered (a database_url credential with tool_id
// vargate_read_database): one statement, in a READ ONLY transaction that is
// always rolled back, under a statement timeout, with caps on rows and
// bytes returned. Tenants should still register a role that can only read.
type DatabaseConnector struct {
	Credentials Credentials
	// Guard checks the database server's address.
	Guard            *netguard.Guard
	MaxRows          int
	MaxResultBytes   int
	StatementTimeout time.Duration
	MaxPools         int

	mu    sync.Mutex
	pools map[string]*list.Element // credential ID@version → entry in lru
	lru   list.List                // of *poolEntry, most recent first
	// closing counts the evicted pools still closing; Close waits for them.
	closing sync.WaitGroup
	// closePool closes a pool; nil means (*pgxpool.Pool).Close. Tests
	// set it to see the order of closes.
	closePool func(*pgxpool.Pool)
}

type poolEntry struct {
	key  string
	pool *pgxpool.Pool
}

// NewReadDatabaseTool returns vargate_read_database over c.
func NewReadDatabaseTool(c *DatabaseConnector) *Tool {
	t, err := NewTool(Tool{
		Name:        ReadDatabase,
		Title:       "Read database",
		Description: "Run one read-only SQL query against the organisation's PostgreSQL database. Results are capped in rows and size.",
		ReadOnly:    true,
		Schema: schemaFor[ReadDatabaseInput](func(s *jsonschema.Schema) {
			s.Properties["query"].MinLength = ptr(1)
			s.Properties["query"].MaxLength = ptr(20000)
			p := s.Properties["params"]
			p.Type, p.Types = "array", nil
			p.MaxItems = ptr(100)
			p.Items = &jsonschema.Schema{Types: []string{"string", "number", "boolean", "null"}}
		}),
		Summary:   func(json.RawMessage) string { return "read from the database" },
		Connector: c,
	})
	if err != nil {
		panic(err)
	}
	return t
}

// readOnlyStarts are the statements a query may begin with.
var readOnlyStarts = []string{"select", "with", "values", "table", "show", "explain"}

// Validate implements Validator: the query must start like a read.
func (d *DatabaseConnector) Validate(c *Call) error {
	in, err := inputOf[ReadDatabaseInput](c)
	if err != nil {
		return err
	}
	first := strings.ToLower(firstWord(in.Query))
	for _, s := range readOnlyStarts {
		if first == s {
			return nil
		}
	}
	return vargate.Invalid("query", "only read statements are allowed (SELECT, WITH, VALUES, TABLE, SHOW, EXPLAIN)")
}

// firstWord returns the first keyword of a statement, skipping white
// space, comments and opening parentheses.
func firstWord(q string) string {
	for {
		q = strings.TrimLeftFunc(q, func(r rune) bool { return unicode.IsSpace(r) || r == '(' })
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return ""
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return ""
			}
			q = q[i+2:]
		default:
			end := strings.IndexFunc(q, func(r rune) bool { return !unicode.IsLetter(r) })
			if end < 0 {
				return q
			}
			return q[:end]
		}
	}
}

// Call implements Connector: it runs the call and scrubs the result and
// error of every credential value released for it.
func (d *DatabaseConnector) Call(ctx context.Context, c *Call) (Result, error) {
	return c.scrub(d.call(ctx, c))
}

func (d *DatabaseConnector) call(ctx context.Context, c *Call) (Result, error) {
	if err := d.Validate(c); err != nil {
		return Result{}, err
	}
	in, err := inputOf[ReadDatabaseInput](c)
	if err != nil {
		return Result{}, err
	}
	params, err := sqlParams(in.Params)
	if err != nil {
		return Result{}, err
	}
	secret, err := useCredential(ctx, d.Credentials, c, ReadDatabase, "", "")
	if err != nil {
		return Result{}, err
	}
	pool, err := d.pool(ctx, secret.Metadata().ID+"@"+fmt.Sprint(secret.Metadata().Version), string(secret.Reveal()))
	secret.Wipe()
	if err != nil {
		return Result{}, err
	}
	timeout := d.StatementTimeout
	if timeout <= 0 {
		timeout = DefaultStatementTimeout
	}
	// The whole call, connecting included, gets a little more than the
	// statement's own limit.
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return Result{}, dbError(err, "the database could not be reached")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only; rolling back is all there is to do
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return Result{}, dbError(err, "the database session could not be prepared")
	}
	rows, err := tx.Query(ctx, in.Query, params...)
	if err != nil {
		return Result{}, dbError(err, "the query failed")
	}
	defer rows.Close()
	out, err := d.collect(rows)
	if err != nil {
		return Result{}, dbError(err, "the query failed")
	}
	return JSONResult(out)
}

// collect reads rows up to the caps.
func (d *DatabaseConnector) collect(rows pgx.Rows) (ReadDatabaseResult, error) {
	maxRows, maxBytes := d.MaxRows, d.MaxResultBytes
	if maxRows <= 0 {
		maxRows = DefaultMaxRows
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResultBytes
	}
	out := ReadDatabaseResult{Columns: []string{}, Rows: [][]any{}}
	for _, f := range rows.FieldDescriptions() {
		out.Columns = append(out.Columns, f.Name)
	}
	size := 0
	for rows.Next() {
		if len(out.Rows) >= maxRows {
			out.Truncated = true
			break
		}
		vals, err := rows.Values()
		if err != nil {
			return out, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = jsonValue(v)
		}
		b, err := json.Marshal(row)
		if err != nil {
			return out, err
		}
		if size+len(b) > maxBytes {
			out.Truncated = true
			break
		}
		size += len(b)
		out.Rows = append(out.Rows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, err
	}
	out.RowCount = len(out.Rows)
	return out, nil
}

// jsonValue turns a value pgx decoded into one that marshals as readable
// JSON.
func jsonValue(v any) any {
	switch x := v.(type) {
	case [16]byte: // uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case float32:
		return jsonValue(float64(x))
	case nil, string, bool, int, int16, int32, int64, []byte, time.Time:
		return x
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}

// sqlParams converts JSON parameters: whole numbers become int64 so that
// they bind to integer columns.
func sqlParams(ps []any) ([]any, error) {
	out := make([]any, len(ps))
	for i, p := range ps {
		switch x := p.(type) {
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				out[i] = int64(x)
			} else {
				out[i] = x
			}
		case nil, string, bool:
			out[i] = x
		default:
			return nil, vargate.Invalid(fmt.Sprintf("params[%d]", i), "must be a string, number, boolean or null")
		}
	}
	return out, nil
}

// dbError turns a database error into a message for the agent: the
// server's own message for SQL errors (they describe the query, not the
// credential), a fixed one otherwise.
func dbError(err error, msg string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "57014" {
			return Failed(err, "%s: the statement timed out", msg)
		}
		return Failed(err, "%s: %s (SQLSTATE %s)", msg, pgErr.Message, pgErr.Code)
	}
	if netguard.IsBlocked(err) {
		return Failed(err, "the database server's address is not allowed")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return Failed(err, "%s: timed out", msg)
	}
	return Failed(err, "%s", msg)
}

// pool returns the connection pool for a credential version, opening it
// on first use. Old versions age out of the LRU.
func (d *DatabaseConnector) pool(ctx context.Context, key, dsn string) (*pgxpool.Pool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pools == nil {
		d.pools = map[string]*list.Element{}
	}
	if el, ok := d.pools[key]; ok {
		d.lru.MoveToFront(el)
		return el.Value.(*poolEntry).pool, nil
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error quotes the DSN, password included: not wrapped.
		return nil, vargate.Errorf(vargate.KindInvalid, "the database_url credential is not a valid PostgreSQL DSN")
	}
	cfg.MaxConns = 4
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	// Every address tried, fallbacks included, is dialled through the guard.
	cfg.ConnConfig.DialFunc = d.Guard.DialContext
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, Failed(err, "the database could not be reached")
	}
	d.pools[key] = d.lru.PushFront(&poolEntry{key: key, pool: p})
	max := d.MaxPools
	if max <= 0 {
		max = DefaultMaxPools
	}
	for d.lru.Len() > max {
		last := d.lru.Back()
		e := d.lru.Remove(last).(*poolEntry)
		delete(d.pools, e.key)
		// Closing waits for the pool's connections in use, so it runs
		// apart; Close waits for it.
		d.closing.Go(func() { d.close(e.pool) })
	}
	return p, nil
}

// close closes a pool, waiting for its connections in use.
func (d *DatabaseConnector) close(p *pgxpool.Pool) {
	if d.closePool != nil {
		d.closePool(p)
		return
	}
	p.Close()
}

// Close closes every pool, and returns once the pools evicted earlier
// have closed too.
func (d *DatabaseConnector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, el := range d.pools {
		d.close(el.Value.(*poolEntry).pool)
	}
	d.pools = nil
	d.lru.Init()
	// Under d.mu, so that no eviction adds to closing while it is waited on.
	d.closing.Wait()
	return nil
}
