package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault/vaulttest"
	"github.com/vargate/vargate/internal/webhook"
)

// countingExecutor counts executions; it can deny as a changed policy would.
type countingExecutor struct {
	n    atomic.Int32
	deny atomic.Bool
}

func (e *countingExecutor) ExecuteApproved(context.Context, approval.Action) (json.RawMessage, error) {
	if e.deny.Load() {
		return nil, &approval.PolicyDeniedError{Reasons: []string{"send_email is no longer allowed"}}
	}
	e.n.Add(1)
	return json.RawMessage(`{"sent":true}`), nil
}

// sessionTokens resolves one session token.
type sessionTokens struct {
	token string
	p     vargate.Principal
}

func (s sessionTokens) AuthenticateSessionToken(_ context.Context, hash []byte) (vargate.Principal, error) {
	if string(hash) == string(auth.HashToken(s.token)) {
		return s.p, nil
	}
	return vargate.Principal{}, vargate.Errorf(vargate.KindUnauthorized, "unknown token")
}

type approvalEnv struct {
	srv       *httptest.Server
	approvals *approval.Service
	hooks     *webhook.Service
	exec      *countingExecutor
	keys      map[string]string
	tenA      string
}

func newApprovalEnv(t *testing.T) *approvalEnv {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	as := auth.NewService(sqlstore.NewAuthStore(db))
	e := &approvalEnv{exec: &countingExecutor{}, keys: map[string]string{}}
	for _, name := range []string{"a", "b"} {
		ten, err := as.CreateTenant(ctx, "tenant-"+name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "a" {
			e.tenA = ten.ID
		}
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor, vargate.RoleAgent} {
			req := auth.KeyRequest{TenantID: ten.ID, Role: role}
			if role == vargate.RoleAgent {
				req.AgentID = "agent-1"
			}
			_, secret, err := as.CreateKey(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			e.keys[name+"-"+string(role)] = secret
		}
	}
	e.keys["a-session"] = auth.NewToken(auth.SessionTokenPrefix)
	as.Sessions = sessionTokens{e.keys["a-session"],
		vargate.Principal{TenantID: e.tenA, Role: vargate.RoleAgent, AgentID: "agent-1", SessionID: "vs-1", KeyID: "tok-1"}}

	signer, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), "test")
	if err != nil {
		t.Fatal(err)
	}
	alog := audit.New(sqlstore.NewAuditStore(db), signer)
	if err := alog.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })

	sealer := vaulttest.NewSealer()
	e.hooks = webhook.New(sqlstore.NewWebhookStore(db), sealer, nil)
	e.hooks.Auditor = alog
	e.hooks.AllowPrivate = true
	e.hooks.PollInterval = 10 * time.Millisecond
	e.hooks.BaseDelay, e.hooks.MaxDelay = 20*time.Millisecond, 100*time.Millisecond
	if err := e.hooks.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.hooks.Close() })

	e.approvals = approval.New(sqlstore.NewApprovalStore(db), e.exec, nil)
	e.approvals.Auditor, e.approvals.Emitter, e.approvals.Sealer = alog, e.hooks, sealer
	if err := e.approvals.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.approvals.Close() })

	api := &httpapi.Server{Auth: as, Audit: alog, Approvals: e.approvals, Webhooks: e.hooks, Ping: db.Ping}
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as the named key; body "" sends none and no
// Content-Type, as the guide's approve curl does.
func (e *approvalEnv) do(t *testing.T, who, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-API-Key", e.keys[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (e *approvalEnv) enqueue(t *testing.T, sensitive bool) approval.Action {
	t.Helper()
	a, err := e.approvals.Enqueue(t.Context(), approval.Request{
		TenantID: e.tenA, SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
		Args: json.RawMessage(`{"to":"jane@example.com"}`), ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]"}`),
		Reasons: []string{"send_email requires approval"}, Sensitive: sensitive,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// TestApprovalRoles: only admin and approver keys decide; auditors read;
// agent keys and session tokens reach nothing.
func TestApprovalRoles(t *testing.T) {
	e := newApprovalEnv(t)
	a := e.enqueue(t, false)
	for _, c := range []struct {
		who, method, path string
		want              int
	}{
		{"a-agent", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"a-session", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"a-auditor", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"a-agent", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"a-session", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"a-auditor", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"a-agent", "GET", "/approvals", http.StatusForbidden},
		{"a-session", "GET", "/approvals/" + a.ID, http.StatusForbidden},
		{"nobody", "POST", "/approve/" + a.ID, http.StatusUnauthorized},
		{"b-admin", "POST", "/approve/" + a.ID, http.StatusNotFound},
		{"b-admin", "GET", "/approvals/" + a.ID, http.StatusNotFound},
		{"a-auditor", "GET", "/approvals/" + a.ID, http.StatusOK},
		{"a-approver", "GET", "/api/approvals", http.StatusOK},
	} {
		if code, body := e.do(t, c.who, c.method, c.path, ""); code != c.want {
			t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, c.who, code, body, c.want)
		}
	}
	if n := e.exec.n.Load(); n != 0 {
		t.Fatalf("executions after refused decisions: %d", n)
	}
	for i, who := range []string{"a-approver", "a-admin"} {
		b := e.enqueue(t, false)
		code, body := e.do(t, who, "POST", "/api/approve/"+b.ID, "")
		if code != http.StatusOK || decode[httpapi.ApprovalResponse](t, body).Status != approval.StatusExecuted {
			t.Errorf("approve as %s: %d %s", who, code, body)
		}
		if n := e.exec.n.Load(); int(n) != i+1 {
			t.Errorf("executions: %d", n)
		}
	}
}

func TestApproveRejectAPI(t *testing.T) {
	e := newApprovalEnv(t)
	a := e.enqueue(t, true)

	code, body := e.do(t, "a-auditor", "GET", "/approvals", "")
	list := decode[httpapi.ApprovalListResponse](t, body)
	if code != http.StatusOK || list.Count != 1 || list.Approvals[0].ID != a.ID || list.Stats[approval.StatusPending] != 1 {
		t.Fatalf("list: %d %s", code, body)
	}
	if l := list.Approvals[0]; l.Arguments != nil || string(l.ArgumentsRedacted) != `{"to":"[EMAIL]"}` {
		t.Errorf("listing shows arguments %s / %s", l.Arguments, l.ArgumentsRedacted)
	}
	_, body = e.do(t, "a-auditor", "GET", "/approvals/"+a.ID, "")
	if d := decode[httpapi.ApprovalResponse](t, body); d.Arguments != nil || !d.Sensitive || len(d.History) != 1 {
		t.Errorf("auditor detail of a sensitive action: %s", body)
	}
	_, body = e.do(t, "a-approver", "GET", "/approvals/"+a.ID, "")
	if d := decode[httpapi.ApprovalResponse](t, body); string(d.Arguments) != `{"to":"jane@example.com"}` {
		t.Errorf("approver detail: %s", body)
	}

	// The prototype's "note" is accepted; the guide's curl sends no body.
	code, body = e.do(t, "a-approver", "POST", "/approve/"+a.ID, `{"note":"looks fine"}`)
	got := decode[httpapi.ApprovalResponse](t, body)
	if code != http.StatusOK || got.Status != approval.StatusExecuted || got.Reason != "looks fine" || string(got.Result) != `{"sent":true}` {
		t.Errorf("approve: %d %s", code, body)
	}
	if code, body := e.do(t, "a-admin", "POST", "/reject/"+a.ID, `{"reason":"too late"}`); code != http.StatusConflict {
		t.Errorf("reject after approve: %d %s, want 409", code, body)
	}

	b := e.enqueue(t, false)
	code, body = e.do(t, "a-admin", "POST", "/api/reject/"+b.ID, `{"reason": "External email not permitted for this task"}`)
	got = decode[httpapi.ApprovalResponse](t, body)
	if code != http.StatusOK || got.Status != approval.StatusRejected || got.Reason != "External email not permitted for this task" {
		t.Errorf("reject: %d %s", code, body)
	}
	for _, c := range []struct{ body, field string }{
		{`{"reason":"a","note":"b"}`, "note"},
		{`{"why":"x"}`, "why"},
		{`{"reason":"` + strings.Repeat("x", approval.MaxNoteBytes+1) + `"}`, "reason"},
	} {
		c2 := e.enqueue(t, false)
		code, body := e.do(t, "a-admin", "POST", "/reject/"+c2.ID, c.body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"field":"`+c.field+`"`) {
			t.Errorf("reject with %.30s: %d %s", c.body, code, body)
		}
	}
	if code, _ := e.do(t, "a-admin", "POST", "/approve/no-such-action", ""); code != http.StatusNotFound {
		t.Errorf("approve unknown: %d", code)
	}

	code, body = e.do(t, "a-admin", "GET", "/approvals?status=all&tool=send_email&limit=2", "")
	list = decode[httpapi.ApprovalListResponse](t, body)
	if code != http.StatusOK || list.Count != 2 || list.NextBefore == "" {
		t.Errorf("page 1: %d %s", code, body)
	}
	if code, body := e.do(t, "a-admin", "GET", "/approvals?status=nope", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("bad status filter: %d %s", code, body)
	}

	// A changed policy stops execution, and the approver is told why.
	e.exec.deny.Store(true)
	c := e.enqueue(t, false)
	code, body = e.do(t, "a-approver", "POST", "/approve/"+c.ID, "")
	got = decode[httpapi.ApprovalResponse](t, body)
	if code != http.StatusOK || got.Status != approval.StatusFailed || got.Failure == nil ||
		got.Failure.Code != approval.FailurePolicyDenied || len(got.Failure.Reasons) != 1 {
		t.Errorf("approve under a changed policy: %d %s", code, body)
	}
}

// TestConcurrentApproveOverHTTP: many approvers and rejecters at once on
// one action: one 200, the rest 409, and at most one execution.
func TestConcurrentApproveOverHTTP(t *testing.T) {
	e := newApprovalEnv(t)
	a := e.enqueue(t, false)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			path, who := "/approve/"+a.ID, "a-approver"
			if i%2 == 1 {
				path, who = "/reject/"+a.ID, "a-admin"
			}
			code, _ := e.do(t, who, "POST", path, "")
			mu.Lock()
			codes[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if codes[http.StatusOK] != 1 || codes[http.StatusConflict] != 19 {
		t.Errorf("status codes: %v, want one 200 and 19 409", codes)
	}
	if n := e.exec.n.Load(); n > 1 {
		t.Errorf("executions: %d", n)
	}
}

// TestApprovalWebhooksEndToEnd: settings through the API, then an action
// queued and approved; the receiver gets the signed events.
func TestApprovalWebhooksEndToEnd(t *testing.T) {
	e := newApprovalEnv(t)
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	code, body := e.do(t, "a-admin", "POST", "/api/dashboard/settings", `{"webhook_url":"`+recv.URL+`/hook"}`)
	set := decode[httpapi.DashboardSettingsResponse](t, body)
	if code != http.StatusOK || !strings.HasPrefix(set.WebhookSecret, "whsec_") || !set.WebhookSecretSet {
		t.Fatalf("settings: %d %s", code, body)
	}
	a := e.enqueue(t, false)
	if code, body := e.do(t, "a-approver", "POST", "/approve/"+a.ID, ""); code != http.StatusOK {
		t.Fatalf("approve: %d %s", code, body)
	}
	want := []string{webhook.EventPendingApproval, webhook.EventApproved, webhook.EventExecuted}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d webhooks, want %d", n, len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	lib, _ := standardwebhooks.NewWebhook(set.WebhookSecret)
	types := map[string]bool{}
	mu.Lock()
	for i, r := range got {
		if err := lib.Verify(bodies[i], r.Header); err != nil {
			t.Errorf("signature: %v", err)
		}
		var p struct {
			Type string
			Data struct {
				ActionID string `json:"action_id"`
			}
		}
		_ = json.Unmarshal(bodies[i], &p)
		if p.Data.ActionID != a.ID {
			t.Errorf("%s for action %q", p.Type, p.Data.ActionID)
		}
		types[p.Type] = true
	}
	mu.Unlock()
	for _, w := range want {
		if !types[w] {
			t.Errorf("no %s webhook", w)
		}
	}
}

// TestApprovalFlagsHiddenText: a decider gets the exact recipient and a
// warning naming the value with hidden direction marks, escaped; an
// auditor of a sensitive action gets neither the recipient nor the raw
// characters.
func TestApprovalFlagsHiddenText(t *testing.T) {
	e := newApprovalEnv(t)
	to := "\"\u202emoc.ynapmoc-ruo@sso\u202c\" <drop@attacker.example>"
	args, _ := json.Marshal(map[string]string{"to": to})
	a, err := e.approvals.Enqueue(t.Context(), approval.Request{
		TenantID: e.tenA, SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
		Args: args, ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]"}`), Sensitive: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	code, b := e.do(t, "a-approver", "GET", "/approvals/"+a.ID, "")
	got := decode[httpapi.ApprovalResponse](t, b)
	if code != 200 || len(got.HiddenText) != 1 || got.HiddenText[0].Path != "to" ||
		got.HiddenText[0].Message != approval.MsgDirectionMarks || got.HiddenText[0].Escaped != `"\u202Emoc.ynapmoc-ruo@sso\u202C" <drop@attacker.example>` {
		t.Errorf("approver: %d %s", code, b)
	}
	var exact map[string]string
	if json.Unmarshal(got.Arguments, &exact) != nil || exact["to"] != to {
		t.Errorf("approver's arguments = %s, want the exact recipient", got.Arguments)
	}
	code, b = e.do(t, "a-auditor", "GET", "/approvals/"+a.ID, "")
	if code != 200 || strings.Contains(string(b), "attacker") || strings.Contains(string(b), "hidden_text") {
		t.Errorf("auditor: %d %s", code, b)
	}
}
