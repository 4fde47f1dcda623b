package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vargate/vargate/internal/approval"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/tools"
)

// The governed-call property: whatever the arguments of a tools/call, no
// side effect (a connector run, a request to a tenant tool's API, an
// approval queued, a webhook emitted) happens without an mcp_governed
// record of the call, and the tenant's chain still verifies. The seeds
// are the arguments that used to run unrecorded: duplicate member names,
// lone surrogate escapes, raw invalid UTF-8, values over the audit
// writer's limits, and deep nesting.

// fuzzTools are the tools a fuzz input may call: allowed (search, HTTP to
// an allowed host, the tenant's CRM tool), needing approval (e-mail), and
// allowed but refused by the connector's checks (database).
var fuzzTools = []string{tools.WebSearch, tools.SendEmail, tools.HTTPRequest, "crm_lookup", tools.ReadDatabase}

func fuzzSeeds() [][]byte {
	big := strings.Repeat("é", 100_000) // 200,000 bytes, over the old 256 KiB record with the detail copy
	huge := strings.Repeat("x", 300<<10)
	return [][]byte{
		[]byte(`{"query":"governance"}`),
		[]byte(`{"query":"a","query":"b"}`),
		[]byte(`{"to":"bob@example.com","subject":"hi","body":"x","body":"y"}`),
		[]byte(`{"query":"\ud800"}`),
		[]byte(`{"query":"\udc00\ud800"}`),
		[]byte("{\"query\":\"\xff\xfe\"}"),
		[]byte("{\"q\xc3\":\"x\"}"),
		[]byte(`{"query":"` + big + `"}`),
		[]byte(`{"query":"` + huge + `"}`),
		[]byte(`{"to":"bob@example.com","subject":"hi","body":"` + big + `"}`),
		[]byte(`{"method":"POST","url":"http://127.0.0.1/x","body":"` + big + `"}`),
		[]byte(`{"query":"x","max_results":1e400}`),
		[]byte(`{"query":"x","max_results":123456789012345678901234567890}`),
		[]byte(`{"query":"x","n":` + strings.Repeat("9", 20000) + `}`),
		[]byte(`{"query":"x","deep":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}`),
		[]byte(`{"query":"x","deep":` + strings.Repeat(`{"a":`, 63) + `1` + strings.Repeat(`}`, 63) + `}`),
		[]byte(`{"id":"c-1"}`),
		[]byte(`{"id":"c-1","id":"c-2"}`),
		[]byte(`{"query":"4111 1111 1111 1111"}`),
		[]byte(`{"query":"sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`),
		[]byte(`{"` + huge + `":1}`),
		[]byte(`[]`),
		[]byte(`null`),
		[]byte(`"x"`),
		[]byte(`{"query":"x"} `),
		[]byte(`{"query":"\u0000"}`),
		[]byte(`{"query":"x","arr":[` + strings.Repeat(`"aaaaaaaaaa",`, 30000) + `"a"]}`),
	}
}

func FuzzGovernedCall(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(uint8(i), s)
	}
	fz := newFuzzGateway(f, sqlstore.SQLite)
	f.Fuzz(func(t *testing.T, tool uint8, args []byte) {
		fz.check(t, fuzzTools[int(tool)%len(fuzzTools)], args)
	})
}

// TestGovernedCallCorpusPostgres holds the seed corpus to the same
// property on PostgreSQL.
func TestGovernedCallCorpusPostgres(t *testing.T) {
	fz := newFuzzGateway(t, sqlstore.Postgres)
	for i, s := range fuzzSeeds() {
		for j := range fuzzTools {
			t.Run(fmt.Sprintf("seed%d/%s", i, fuzzTools[j]), func(t *testing.T) {
				fz.check(t, fuzzTools[j], s)
			})
		}
	}
}

// TestGovernedCallCorpusSQLite runs every seed against every tool (the
// fuzz target pairs each seed with one tool).
func TestGovernedCallCorpusSQLite(t *testing.T) {
	fz := newFuzzGateway(t, sqlstore.SQLite)
	for i, s := range fuzzSeeds() {
		for j := range fuzzTools {
			t.Run(fmt.Sprintf("seed%d/%s", i, fuzzTools[j]), func(t *testing.T) {
				fz.check(t, fuzzTools[j], s)
			})
		}
	}
}

type fuzzGateway struct {
	g      *gateway
	queued atomic.Int64
	client *http.Client
}

// countingQueue counts the actions queued for approval.
type countingQueue struct {
	govern.Queue
	n *atomic.Int64
}

func (q countingQueue) Enqueue(ctx context.Context, r approval.Request) (approval.Action, error) {
	a, err := q.Queue.Enqueue(ctx, r)
	if err == nil {
		q.n.Add(1)
	}
	return a, err
}

func newFuzzGateway(tb testing.TB, d sqlstore.Dialect) *fuzzGateway {
	fz := &fuzzGateway{g: newGateway(tb, gatewayOptions{dialect: d, noop: true}), client: &http.Client{}}
	fz.g.gov.Queue = countingQueue{fz.g.queue, &fz.queued}
	return fz
}

// effects is everything that counts as acting on a call.
func (fz *fuzzGateway) effects() int64 {
	return fz.g.sideEffects.Load() + fz.queued.Load() + int64(len(fz.g.events.all()))
}

func (fz *fuzzGateway) check(t *testing.T, tool string, args []byte) {
	g := fz.g
	before, governedBefore := fz.effects(), len(g.records(t, g.acme.ID, audit.SourceMCPGoverned))
	body := append([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tool+`","arguments":`), args...)
	body = append(body, []byte(`,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"fuzz","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`)...)
	req, err := http.NewRequestWithContext(t.Context(), "POST", g.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", tool)
	req.Header.Set("Authorization", "Bearer "+g.acme.AgentKey)
	resp, err := fz.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	effects := fz.effects() - before
	governed := len(g.records(t, g.acme.ID, audit.SourceMCPGoverned)) - governedBefore
	if effects > int64(governed) {
		t.Fatalf("%d side effects, %d mcp_governed records; answer %.300s", effects, governed, answer)
	}
	// A call the gateway answered with a tool result is on the record,
	// its action ID with it; one refused at decode says why.
	if id := actionIDIn(answer); id != "" {
		recs := g.records(t, g.acme.ID, audit.SourceMCPGoverned)
		last := recs[len(recs)-1]
		if last.ActionID != id || last.Outcome == "" {
			t.Fatalf("answered action %s, last governed record %+v", id, last)
		}
		if last.Outcome == audit.OutcomeInvalid && !bytes.Contains(answer, []byte(`"isError":true`)) {
			t.Fatalf("invalid arguments answered without isError: %.300s", answer)
		}
	}
	res, err := g.log.Verify(context.Background(), g.acme.ID)
	if err != nil || !res.Valid {
		t.Fatalf("chain: %+v, %v", res, err)
	}
}

// actionIDIn returns the action ID in a tools/call answer (SSE or JSON).
func actionIDIn(answer []byte) string {
	i := bytes.Index(answer, []byte(`"ai.vargate/action_id":"`))
	if i < 0 {
		return ""
	}
	rest := answer[i+len(`"ai.vargate/action_id":"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	var s string
	_ = json.Unmarshal(append(append([]byte(`"`), rest[:j]...), '"'), &s)
	return s
}
