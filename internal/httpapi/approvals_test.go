package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/webhook"
)

// enqueue queues a send_email of agent-1 in acme for approval.
func (e *api) enqueue(t *testing.T, sensitive bool) approval.Action {
	t.Helper()
	a, err := e.approvals.Enqueue(t.Context(), approval.Request{
		TenantID: e.tids["acme"], SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
		Args: json.RawMessage(`{"to":"jane@example.com"}`), ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]"}`),
		Reasons: []string{"send_email requires approval"}, Sensitive: sensitive,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestApprovalRoles: only admin and approver keys decide; auditors read;
// agent keys and session tokens reach nothing.
func TestApprovalRoles(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true})
	a := e.enqueue(t, false)
	for _, c := range []struct {
		who, method, path string
		want              int
	}{
		{"acme/agent", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"acme/session", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"acme/auditor", "POST", "/approve/" + a.ID, http.StatusForbidden},
		{"acme/agent", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"acme/session", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"acme/auditor", "POST", "/reject/" + a.ID, http.StatusForbidden},
		{"acme/agent", "GET", "/approvals", http.StatusForbidden},
		{"acme/session", "GET", "/approvals/" + a.ID, http.StatusForbidden},
		{"nobody", "POST", "/approve/" + a.ID, http.StatusUnauthorized},
		{"globex/admin", "POST", "/approve/" + a.ID, http.StatusNotFound},
		{"globex/admin", "GET", "/approvals/" + a.ID, http.StatusNotFound},
		{"acme/auditor", "GET", "/approvals/" + a.ID, http.StatusOK},
		{"acme/approver", "GET", "/api/approvals", http.StatusOK},
	} {
		if r := e.do(t, c.who, c.method, c.path, "", nil); r.status != c.want {
			t.Errorf("%s %s as %s: %d %s, want %d", c.method, c.path, c.who, r.status, r.raw, c.want)
		}
	}
	if n := e.exec.n.Load(); n != 0 {
		t.Fatalf("executions after refused decisions: %d", n)
	}
	for i, who := range []string{"acme/approver", "acme/admin"} {
		b := e.enqueue(t, false)
		r := e.do(t, who, "POST", "/api/approve/"+b.ID, "", nil)
		if r.status != http.StatusOK || decode[httpapi.ApprovalResponse](t, r.raw).Status != approval.StatusExecuted {
			t.Errorf("approve as %s: %d %s", who, r.status, r.raw)
		}
		if n := e.exec.n.Load(); int(n) != i+1 {
			t.Errorf("executions: %d", n)
		}
	}
}

func TestApproveRejectAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true})
	a := e.enqueue(t, true)

	r := e.do(t, "acme/auditor", "GET", "/approvals", "", nil)
	list := decode[httpapi.ApprovalListResponse](t, r.raw)
	if r.status != http.StatusOK || list.Count != 1 || list.Approvals[0].ID != a.ID || list.Stats[approval.StatusPending] != 1 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	if l := list.Approvals[0]; l.Arguments != nil || string(l.ArgumentsRedacted) != `{"to":"[EMAIL]"}` {
		t.Errorf("listing shows arguments %s / %s", l.Arguments, l.ArgumentsRedacted)
	}
	r = e.do(t, "acme/auditor", "GET", "/approvals/"+a.ID, "", nil)
	if d := decode[httpapi.ApprovalResponse](t, r.raw); d.Arguments != nil || !d.Sensitive || len(d.History) != 1 {
		t.Errorf("auditor detail of a sensitive action: %s", r.raw)
	}
	r = e.do(t, "acme/approver", "GET", "/approvals/"+a.ID, "", nil)
	if d := decode[httpapi.ApprovalResponse](t, r.raw); string(d.Arguments) != `{"to":"jane@example.com"}` {
		t.Errorf("approver detail: %s", r.raw)
	}

	// The prototype's "note" is accepted; the guide's curl sends no body.
	r = e.do(t, "acme/approver", "POST", "/approve/"+a.ID, `{"note":"looks fine"}`, nil)
	got := decode[httpapi.ApprovalResponse](t, r.raw)
	if r.status != http.StatusOK || got.Status != approval.StatusExecuted || got.Reason != "looks fine" || string(got.Result) != `{"sent":true}` {
		t.Errorf("approve: %d %s", r.status, r.raw)
	}
	if r := e.do(t, "acme/admin", "POST", "/reject/"+a.ID, `{"reason":"too late"}`, nil); r.status != http.StatusConflict {
		t.Errorf("reject after approve: %d %s, want 409", r.status, r.raw)
	}

	b := e.enqueue(t, false)
	r = e.do(t, "acme/admin", "POST", "/api/reject/"+b.ID, `{"reason": "External email not permitted for this task"}`, nil)
	got = decode[httpapi.ApprovalResponse](t, r.raw)
	if r.status != http.StatusOK || got.Status != approval.StatusRejected || got.Reason != "External email not permitted for this task" {
		t.Errorf("reject: %d %s", r.status, r.raw)
	}
	for _, c := range []struct{ body, field string }{
		{`{"reason":"a","note":"b"}`, "note"},
		{`{"why":"x"}`, "why"},
		{`{"reason":"` + strings.Repeat("x", approval.MaxNoteBytes+1) + `"}`, "reason"},
	} {
		c2 := e.enqueue(t, false)
		r := e.do(t, "acme/admin", "POST", "/reject/"+c2.ID, c.body, nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.raw), `"field":"`+c.field+`"`) {
			t.Errorf("reject with %.30s: %d %s", c.body, r.status, r.raw)
		}
	}
	if r := e.do(t, "acme/admin", "POST", "/approve/no-such-action", "", nil); r.status != http.StatusNotFound {
		t.Errorf("approve unknown: %d", r.status)
	}

	r = e.do(t, "acme/admin", "GET", "/approvals?status=all&tool=send_email&limit=2", "", nil)
	list = decode[httpapi.ApprovalListResponse](t, r.raw)
	if r.status != http.StatusOK || list.Count != 2 || list.NextBefore == "" {
		t.Errorf("page 1: %d %s", r.status, r.raw)
	}
	if r := e.do(t, "acme/admin", "GET", "/approvals?status=nope", "", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("bad status filter: %d %s", r.status, r.raw)
	}

	// A changed policy stops execution, and the approver is told why.
	e.exec.deny.Store(true)
	c := e.enqueue(t, false)
	r = e.do(t, "acme/approver", "POST", "/approve/"+c.ID, "", nil)
	got = decode[httpapi.ApprovalResponse](t, r.raw)
	if r.status != http.StatusOK || got.Status != approval.StatusFailed || got.Failure == nil ||
		got.Failure.Code != approval.FailurePolicyDenied || len(got.Failure.Reasons) != 1 {
		t.Errorf("approve under a changed policy: %d %s", r.status, r.raw)
	}
}

// TestConcurrentApproveOverHTTP: many approvers and rejecters at once on
// one action: one 200, the rest 409, and at most one execution.
func TestConcurrentApproveOverHTTP(t *testing.T) {
	e := newAPI(t, apiOptions{Approvals: true})
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
			path, who := "/approve/"+a.ID, "acme/approver"
			if i%2 == 1 {
				path, who = "/reject/"+a.ID, "acme/admin"
			}
			r := e.do(t, who, "POST", path, "", nil)
			mu.Lock()
			codes[r.status]++
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
	e := newAPI(t, apiOptions{Approvals: true})
	// The receiver hands each delivery to the test as it arrives.
	type delivery struct {
		header http.Header
		body   []byte
	}
	received := make(chan delivery, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case received <- delivery{r.Header.Clone(), b}:
		default: // more than the test reads; never block the gateway
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	r := e.do(t, "acme/admin", "POST", "/api/dashboard/settings", `{"webhook_url":"`+recv.URL+`/hook"}`, nil)
	set := decode[httpapi.DashboardSettingsResponse](t, r.raw)
	if r.status != http.StatusOK || !strings.HasPrefix(set.WebhookSecret, "whsec_") || !set.WebhookSecretSet {
		t.Fatalf("settings: %d %s", r.status, r.raw)
	}
	a := e.enqueue(t, false)
	if r := e.do(t, "acme/approver", "POST", "/approve/"+a.ID, "", nil); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.raw)
	}
	want := []string{webhook.EventPendingApproval, webhook.EventApproved, webhook.EventExecuted}
	lib, _ := standardwebhooks.NewWebhook(set.WebhookSecret)
	types := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for n := range len(want) {
		var d delivery
		select {
		case d = <-received:
		case <-timeout:
			t.Fatalf("received %d webhooks, want %d", n, len(want))
		}
		if err := lib.Verify(d.body, d.header); err != nil {
			t.Errorf("signature: %v", err)
		}
		var p struct {
			Type string
			Data struct {
				ActionID string `json:"action_id"`
			}
		}
		_ = json.Unmarshal(d.body, &p)
		if p.Data.ActionID != a.ID {
			t.Errorf("%s for action %q", p.Type, p.Data.ActionID)
		}
		types[p.Type] = true
	}
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
	e := newAPI(t, apiOptions{Approvals: true})
	to := "\"\u202emoc.ynapmoc-ruo@sso\u202c\" <drop@attacker.example>"
	args, _ := json.Marshal(map[string]string{"to": to})
	a, err := e.approvals.Enqueue(t.Context(), approval.Request{
		TenantID: e.tids["acme"], SessionID: "vs-1", AgentID: "agent-1", Tool: "send_email",
		Args: args, ArgsRedacted: json.RawMessage(`{"to":"[EMAIL]"}`), Sensitive: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got httpapi.ApprovalResponse
	r := e.do(t, "acme/approver", "GET", "/approvals/"+a.ID, "", &got)
	if r.status != 200 || len(got.HiddenText) != 1 || got.HiddenText[0].Path != "to" ||
		got.HiddenText[0].Message != approval.MsgDirectionMarks || got.HiddenText[0].Escaped != `"\u202Emoc.ynapmoc-ruo@sso\u202C" <drop@attacker.example>` {
		t.Errorf("approver: %d %s", r.status, r.raw)
	}
	var exact map[string]string
	if json.Unmarshal(got.Arguments, &exact) != nil || exact["to"] != to {
		t.Errorf("approver's arguments = %s, want the exact recipient", got.Arguments)
	}
	r = e.do(t, "acme/auditor", "GET", "/approvals/"+a.ID, "", nil)
	if r.status != 200 || strings.Contains(string(r.raw), "attacker") || strings.Contains(string(r.raw), "hidden_text") {
		t.Errorf("auditor: %d %s", r.status, r.raw)
	}
}
