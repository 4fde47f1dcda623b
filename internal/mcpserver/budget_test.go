package mcpserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
)

// budgetCap is the tenant's session budget in these tests: the policy
// denies a session's fourth governed call and every one after it.
const budgetCap = 3

// budgetPolicy is a tenant policy `deny if input.session.calls >= 3` over
// the base policy.
type budgetPolicy struct {
	next govern.Decider
	cap  int
}

func (b budgetPolicy) Decide(ctx context.Context, in *policy.Input) (policy.Decision, error) {
	if in.Session.ID != "" && in.Session.Calls >= b.cap {
		return policy.Decision{Decision: policy.Deny, Reasons: []string{fmt.Sprintf("session_budget: %d calls", in.Session.Calls)}}, nil
	}
	return b.next.Decide(ctx, in)
}

// governFacts hands session.Facts to a governor, as cmd wires it.
type governFacts struct{ f *session.Facts }

func (g governFacts) Facts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	c, err := g.f.For(ctx, p)
	return govern.CallerFacts{Session: c.Session, DelegationDepth: c.DelegationDepth}, err
}

func (g governFacts) CurrentFacts(ctx context.Context, p vargate.Principal) (govern.CallerFacts, error) {
	c, err := g.f.Queued(ctx, p)
	return govern.CallerFacts{Session: c.Session, DelegationDepth: c.DelegationDepth}, err
}

func (g governFacts) Decided(ctx context.Context, tenantID, sessionID, decision string) error {
	return g.f.Decided(ctx, tenantID, sessionID, decision)
}

// sessionsStarted are sessions that all started now.
type sessionsStarted struct{ at time.Time }

func (s sessionsStarted) SessionFor(_ context.Context, p vargate.Principal) (session.Session, error) {
	return session.Session{ID: p.SessionID, TenantID: p.TenantID, AgentID: p.AgentID, CreatedAt: s.at}, nil
}

// budgeted gives the gateway's governor the session facts, over the
// gateway's database, and the budget policy.
func budgeted(g *gateway, gov *govern.Governor) { budgetedAt(g, gov, budgetCap) }

// budgetedAt is budgeted with a policy cap of limit calls.
func budgetedAt(g *gateway, gov *govern.Governor, limit int) {
	gov.Facts = governFacts{&session.Facts{Sessions: sessionsStarted{time.Now()}, Counters: sqlstore.NewSessionStore(g.db)}}
	next := gov.Policy
	if b, ok := next.(budgetPolicy); ok {
		next = b.next // a new cap replaces the old one
	}
	gov.Policy = budgetPolicy{next: next, cap: limit}
}

// peer starts a second gateway on g's database — its own audit log,
// governor, session facts and MCP server — and returns its MCP URL.
func (g *gateway) peer(tb testing.TB) string {
	tb.Helper()
	signer, err := audit.LoadOrCreateKey(filepath.Join(tb.TempDir(), "audit.key"), "")
	if err != nil {
		tb.Fatal(err)
	}
	log := audit.New(sqlstore.NewAuditStore(g.db), signer)
	log.CheckpointInterval = -1
	if err := log.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { log.Close() })
	engine, err := policy.NewEngine(context.Background(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	engine.Timeout = 10 * time.Second
	gov := govern.New(g.catalog, g.configs, engine, log, nil)
	budgeted(g, gov)
	srv := &mcpserver.Server{Governor: gov, Auth: g.auth, AuthCacheTTL: -1, MaxBatch: 50}
	mux := http.NewServeMux()
	srv.Mount(mux)
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	return ts.URL + mcpserver.APIPath
}

// searchCall is a tools/call of vargate_web_search (protocol 2025-03-26).
func searchCall(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"vargate_web_search","arguments":{"query":"q%d"}}}`, id, id)
}

// post2025 posts a 2025-03-26 JSON-RPC body and returns the status and body.
func post2025(tb testing.TB, url, token, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-03-26")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A session budget in policy holds however the calls arrive: with a cap
// of 3, at most 3 of 20 calls reach the connector — in one JSON-RPC
// batch, as 20 parallel requests, and as 20 parallel requests spread over
// two gateways on one database. Every call is on the record, and the
// session's counters saw all 20.
func TestSessionBudgetHolds(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			g := newGateway(t, gatewayOptions{dialect: d, configure: func(s *mcpserver.Server) { s.MaxBatch = 50 }})
			budgeted(g, g.gov)
			peer := g.peer(t)
			const n = 20
			cases := []struct {
				name string
				send func(t *testing.T, token string)
			}{
				{"batch", func(t *testing.T, token string) {
					calls := make([]string, n)
					for i := range calls {
						calls[i] = searchCall(i + 1)
					}
					if code, body := post2025(t, g.url, token, "["+strings.Join(calls, ",")+"]"); code != 200 {
						t.Fatalf("batch = %d %s", code, body)
					}
				}},
				{"parallel", func(t *testing.T, token string) {
					parallel(t, n, func(i int) string { return g.url }, token)
				}},
				{"two gateways", func(t *testing.T, token string) {
					parallel(t, n, func(i int) string {
						if i%2 == 0 {
							return g.url
						}
						return peer
					}, token)
				}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					token, sessionID := g.sessionToken(g.acme)
					before := g.searches.Load()
					c.send(t, token)
					if got := g.searches.Load() - before; got > budgetCap {
						t.Errorf("%d searches ran, want at most %d", got, budgetCap)
					}
					allowed, denied := 0, 0
					for _, r := range g.records(t, g.acme.ID, audit.SourceMCPGoverned) {
						if r.SessionID != sessionID {
							continue
						}
						switch r.Decision {
						case policy.Allow:
							allowed++
						case policy.Deny:
							denied++
						}
					}
					if allowed != budgetCap || denied != n-budgetCap {
						t.Errorf("records: %d allowed, %d denied; want %d and %d", allowed, denied, budgetCap, n-budgetCap)
					}
					calls, denials, err := sqlstore.NewSessionStore(g.db).ReserveCall(context.Background(), g.acme.ID, sessionID)
					if err != nil || calls != n || denials != n-budgetCap {
						t.Errorf("counters = %d calls, %d denials (%v); want %d and %d", calls, denials, err, n, n-budgetCap)
					}
				})
			}
		})
	}
}

// parallel sends n single tools/call requests at once, the i-th to url(i).
func parallel(t *testing.T, n int, url func(i int) string, token string) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if code, body := post2025(t, url(i), token, searchCall(i+1)); code != 200 {
				t.Errorf("call %d = %d %s", i, code, body)
			}
		}()
	}
	close(start)
	wg.Wait()
}

// A batch larger than MaxBatch is refused whole with a JSON-RPC error;
// nothing in it runs or is recorded. One at the limit runs.
func TestBatchCap(t *testing.T) {
	g := newGateway(t, gatewayOptions{configure: func(s *mcpserver.Server) { s.MaxBatch = 4 }})
	token, sessionID := g.sessionToken(g.acme)
	batch := func(k int) string {
		calls := make([]string, k)
		for i := range calls {
			calls[i] = searchCall(i + 1)
		}
		return " \n[" + strings.Join(calls, ",") + "]"
	}
	code, body := post2025(t, g.url, token, batch(5))
	if code != http.StatusBadRequest || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "at most 4") {
		t.Errorf("batch of 5 = %d %s, want 400 with JSON-RPC error -32600 naming the limit", code, body)
	}
	if got := g.searches.Load(); got != 0 {
		t.Errorf("%d searches ran for a refused batch", got)
	}
	for _, r := range g.records(t, g.acme.ID, audit.SourceMCPGoverned) {
		if r.SessionID == sessionID {
			t.Errorf("a refused batch left record %d", r.Seq)
		}
	}
	if code, body := post2025(t, g.url, token, batch(4)); code != 200 || strings.Count(body, tools.WebSearch) > 0 && strings.Contains(body, `"error"`) {
		t.Errorf("batch of 4 = %d %s", code, body)
	}
	if got := g.searches.Load(); got != 4 {
		t.Errorf("batch of 4 ran %d searches, want 4", got)
	}
	// A single message is not a batch and passes untouched.
	if code, body := post2025(t, g.url, token, searchCall(9)); code != 200 {
		t.Errorf("single call = %d %s", code, body)
	}
}

// An approved action is re-evaluated against the budget as it stood for
// that call: re-evaluation reserves nothing and does not count the call
// itself, so the session's third call (within a cap of 3) runs once
// approved, and the counters still say 3.
func TestApprovedActionWithinBudgetRuns(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	budgeted(g, g.gov)
	token, sessionID := g.sessionToken(g.acme)
	for i := range 2 {
		if code, body := post2025(t, g.url, token, searchCall(i+1)); code != 200 || strings.Contains(body, "isError\":true") {
			t.Fatalf("search %d = %d %s", i, code, body)
		}
	}
	code, body := post2025(t, g.url, token, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"vargate_send_email","arguments":{"to":"bob@example.com","subject":"Hi","body":"Hello Bob"}}}`)
	if code != 200 || !strings.Contains(body, "pending_approval") {
		t.Fatalf("send = %d %s", code, body)
	}
	list, err := g.queue.List(t.Context(), g.acme.ID, approval.Filter{SessionID: sessionID})
	if err != nil || len(list) != 1 {
		t.Fatalf("queued = %v, %v", list, err)
	}
	approver := vargate.Principal{TenantID: g.acme.ID, Role: vargate.RoleApprover, KeyID: "key-approver"}
	a, err := g.queue.Approve(t.Context(), approver, list[0].ID, "")
	if err != nil || a.Status != approval.StatusExecuted {
		t.Fatalf("approved action: %s %+v, %v; want executed", a.Status, a.Failure, err)
	}
	if calls, _, err := sqlstore.NewSessionStore(g.db).CallCounts(t.Context(), g.acme.ID, sessionID); err != nil || calls != 3 {
		t.Errorf("counters = %d calls, %v; want 3", calls, err)
	}
	// The budget is spent: the next call is denied.
	if _, body := post2025(t, g.url, token, searchCall(4)); !strings.Contains(body, "session_budget") {
		t.Errorf("fourth call = %s, want the budget's deny", body)
	}
}

// For every cap, parallel calls of one session run exactly min(calls, cap)
// times: no cap is walked past, and none is undercut.
func TestSessionBudgetHoldsForEveryCap(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	const n = 8
	for limit := range 7 {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			budgetedAt(g, g.gov, limit)
			token, _ := g.sessionToken(g.acme)
			before := g.searches.Load()
			parallel(t, n, func(int) string { return g.url }, token)
			if got := g.searches.Load() - before; got != int64(min(n, limit)) {
				t.Errorf("cap %d: %d of %d calls ran, want %d", limit, got, n, min(n, limit))
			}
		})
	}
}
