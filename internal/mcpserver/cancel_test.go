package mcpserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/tools"
)

// blockingDecider holds every decision until the call's context ends, so
// that a test can cancel a call before it reaches its side effect.
type blockingDecider struct {
	govern.Decider
	started chan struct{}
}

func (d blockingDecider) Decide(ctx context.Context, in *policy.Input) (policy.Decision, error) {
	d.started <- struct{}{}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	return d.Decider.Decide(ctx, in)
}

// rawCall posts one tools/call; version 2026-07-28 sends the routing
// headers, older versions do not (and may cancel by notification).
func rawCall(ctx context.Context, g *gateway, version, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", g.url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", version)
	if version == "2026-07-28" && strings.Contains(body, `"tools/call"`) {
		req.Header.Set("Mcp-Method", "tools/call")
		req.Header.Set("Mcp-Name", tools.WebSearch)
	}
	req.Header.Set("Authorization", "Bearer "+g.acme.AgentKey)
	return http.DefaultClient.Do(req)
}

// waitCancelled waits for the tenant's last governed record to be the
// cancelled call.
func waitCancelled(t *testing.T, g *gateway) audit.Record {
	t.Helper()
	var recs []audit.Record
	defer func() { // runs when For fails the test, too
		if n := len(recs); n == 0 || recs[n-1].Outcome != audit.OutcomeCancelled {
			t.Logf("governed records: %+v", recs)
		}
	}()
	testwait.For(t, 10*time.Second, "a cancelled record", func() bool {
		recs = g.records(t, g.acme.ID, audit.SourceMCPGoverned)
		n := len(recs)
		return n > 0 && recs[n-1].Outcome == audit.OutcomeCancelled
	})
	return recs[len(recs)-1]
}

// A client that closes its connection stops a call that has not yet run
// its connector, and the call is recorded cancelled.
func TestClosedConnectionCancelsCall(t *testing.T) {
	g := newGateway(t, gatewayOptions{noop: true})
	started := make(chan struct{}, 1)
	g.gov.Policy = blockingDecider{g.gov.Policy, started}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tools.WebSearch + `","arguments":{"query":"x"},` +
			`"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
		if resp, err := rawCall(ctx, g, "2026-07-28", body); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	<-done
	rec := waitCancelled(t, g)
	if n := g.sideEffects.Load(); n != 0 {
		t.Errorf("connector ran %d times after the client went away", n)
	}
	if len(g.events.all()) != 0 {
		t.Errorf("webhooks: %+v", g.events.all())
	}
	if outs := g.records(t, g.acme.ID, audit.SourceMCPOutcome); len(outs) != 0 {
		t.Errorf("outcome records of a call that never ran: %+v", outs)
	}
	if rec.Tool != tools.WebSearch || len(rec.Reasons) == 0 || !strings.HasPrefix(rec.Reasons[len(rec.Reasons)-1], "cancelled:") {
		t.Errorf("record = %+v", rec)
	}
}

// notifications/cancelled from the same caller, on a POST of its own (no
// session: the server is stateless), stops the call it names.
func TestCancelledNotificationCancelsCall(t *testing.T) {
	g := newGateway(t, gatewayOptions{noop: true})
	started := make(chan struct{}, 1)
	g.gov.Policy = blockingDecider{g.gov.Policy, started}
	const version = "2025-06-18"
	answer := make(chan string, 1)
	go func() {
		body := `{"jsonrpc":"2.0","id":"call-7","method":"tools/call","params":{"name":"` + tools.WebSearch + `","arguments":{"query":"x"}}}`
		resp, err := rawCall(t.Context(), g, version, body)
		if err != nil {
			answer <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	select {
	case <-started:
	case a := <-answer:
		t.Fatalf("answered before the decision: %s", a)
	}
	// Another caller naming the same ID cancels nothing.
	other := g.globex
	req, _ := http.NewRequestWithContext(t.Context(), "POST", g.url, bytes.NewReader([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"call-7"}}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", version)
	req.Header.Set("Authorization", "Bearer "+other.AgentKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	select {
	case a := <-answer:
		t.Fatalf("another tenant's notification ended the call: %s", a)
	case <-time.After(100 * time.Millisecond):
	}
	resp, err := rawCall(t.Context(), g, version, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"call-7","reason":"user abort"}}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a := <-answer
	waitCancelled(t, g)
	if n := g.sideEffects.Load(); n != 0 {
		t.Errorf("connector ran %d times after the cancellation", n)
	}
	// The spec asks for no response to a cancelled request; whatever
	// comes back must not claim the call ran.
	if strings.Contains(a, `"executed"`) || strings.Contains(a, `"executing"`) {
		t.Errorf("answer = %s", a)
	}
}
