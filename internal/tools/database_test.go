package tools_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

// testDatabase creates a schema with a small table on the test server and
// returns a DSN whose search_path is that schema.
func testDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("VARGATE_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	defer conn.Close(ctx)
	schema := strings.ToLower(vargate.NewID("tools_test_", 6))
	for _, q := range []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + schema + `.customers (id int PRIMARY KEY, name text, email text, balance numeric(10,2), ref uuid, created timestamptz)`,
		`INSERT INTO ` + schema + `.customers SELECT i, 'customer ' || i, 'c' || i || '@example.com', i * 10.5, '6ba7b810-9dad-11d1-80b4-00c04fd430c8', '2026-04-11T14:30:00Z' FROM generate_series(1, 50) i`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

func TestReadDatabase(t *testing.T) {
	dsn := testDatabase(t)
	creds := newCreds()
	creds.put("t1", tools.ReadDatabase, "", vault.TypeDatabaseURL, dsn)
	conn := &tools.DatabaseConnector{Credentials: creds, Guard: &netguard.Guard{AllowPrivate: true}, MaxRows: 10, MaxResultBytes: 2000}
	defer conn.Close()
	tool := tools.NewReadDatabaseTool(conn)
	run := func(args string) (tools.ReadDatabaseResult, error) {
		c := &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(args)}
		if err := tool.Validate(c); err != nil {
			return tools.ReadDatabaseResult{}, err
		}
		if err := tool.Precheck(c); err != nil {
			return tools.ReadDatabaseResult{}, err
		}
		res, err := tool.Connector.Call(t.Context(), c)
		if err != nil {
			return tools.ReadDatabaseResult{}, err
		}
		var out tools.ReadDatabaseResult
		if err := json.Unmarshal(res.Structured, &out); err != nil {
			t.Fatal(err)
		}
		return out, nil
	}

	out, err := run(`{"query":"SELECT id, name, balance, ref, created FROM customers WHERE id = $1 OR name = $2 ORDER BY id","params":[3,"customer 7"]}`)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(out)
	want := `{"columns":["id","name","balance","ref","created"],"rows":[[3,"customer 3",31.5,"6ba7b810-9dad-11d1-80b4-00c04fd430c8","2026-04-11T14:30:00Z"],[7,"customer 7",73.5,"6ba7b810-9dad-11d1-80b4-00c04fd430c8","2026-04-11T14:30:00Z"]],"row_count":2,"truncated":false}`
	if string(got) != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}

	t.Run("row cap", func(t *testing.T) {
		out, err := run(`{"query":"SELECT id FROM customers ORDER BY id"}`)
		if err != nil || out.RowCount != 10 || !out.Truncated {
			t.Errorf("rows=%d truncated=%v err=%v, want 10 and truncated", out.RowCount, out.Truncated, err)
		}
	})
	t.Run("byte cap", func(t *testing.T) {
		out, err := run(`{"query":"SELECT repeat('x', 500) FROM customers"}`)
		if err != nil || out.RowCount != 3 || !out.Truncated {
			t.Errorf("rows=%d truncated=%v err=%v, want 3 rows of ~500 bytes under 2000 and truncated", out.RowCount, out.Truncated, err)
		}
	})

	refused := []struct{ name, args, want string }{
		{"insert", `{"query":"INSERT INTO customers (id) VALUES (99)"}`, "only read statements"},
		{"drop behind a comment", `{"query":"/* SELECT */ DROP TABLE customers"}`, "only read statements"},
		{"two statements", `{"query":"SELECT 1; DELETE FROM customers"}`, "cannot insert multiple commands"},
		{"write in a CTE", `{"query":"WITH d AS (DELETE FROM customers RETURNING id) SELECT count(*) FROM d"}`, "read-only transaction"},
		{"sequence", `{"query":"CREATE TEMP SEQUENCE s"}`, "only read statements"},
		{"leave read-only", `{"query":"SELECT set_config('transaction_read_only', 'off', true)"}`, "read-write"},
		{"object parameter", `{"query":"SELECT $1::text","params":[{"a":1}]}`, "params"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	var n int
	if err := func() error {
		c, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			return err
		}
		defer c.Close(t.Context())
		return c.QueryRow(t.Context(), "SELECT count(*) FROM customers").Scan(&n)
	}(); err != nil || n != 50 {
		t.Errorf("after the refused writes: %d rows (%v), want 50", n, err)
	}

	t.Run("statement timeout", func(t *testing.T) {
		slow := &tools.DatabaseConnector{Credentials: creds, Guard: &netguard.Guard{AllowPrivate: true}, StatementTimeout: 200_000_000}
		defer slow.Close()
		_, err := slow.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(`{"query":"SELECT pg_sleep(5)"}`)})
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
	t.Run("guard refuses a private database", func(t *testing.T) {
		strict := &tools.DatabaseConnector{Credentials: creds, Guard: &netguard.Guard{}}
		defer strict.Close()
		_, err := strict.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(`{"query":"SELECT 1"}`)})
		if err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("err = %v, want the address refused", err)
		}
	})
	t.Run("no credential", func(t *testing.T) {
		_, err := conn.Call(t.Context(), &tools.Call{TenantID: "t9", ActionID: "a", Args: json.RawMessage(`{"query":"SELECT 1"}`)})
		if !vargate.IsKind(err, vargate.KindUnavailable) {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
}
