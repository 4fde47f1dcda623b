package mcpserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/tools"
)

// The differential test: every request goes once through the fast path
// and once through the SDK (fast path off), and the answers must agree —
// status, the headers a client reads, and the JSON-RPC messages as parsed
// JSON (for SSE, the data of each event), with the action and decision
// IDs of the two calls made equal.

// answer is what a client sees of one response.
type answer struct {
	Status  int
	Headers map[string]string
	// Events are the SSE events (name and parsed data) of a stream, or
	// Body the parsed JSON (or text) of any other answer.
	Events []sseEvent
	Body   any
}

type sseEvent struct {
	Name string
	ID   string
	Data any
}

// comparedHeaders are the response headers both paths must agree on.
// The framing headers (Content-Length, Transfer-Encoding) are not among
// them: the SDK flushes its stream after each event, so its one-event
// answer goes out chunked, while the fast path writes the event once and
// returns, so net/http sends it with a Content-Length (or chunked, when
// large). HTTP/1.1 framing is the transport's, not MCP's: a client reads
// the same body, content type and event either way
// (TestFastPathAnswersInOneResponse checks the fast path's framing).
var comparedHeaders = []string{"Content-Type", "Cache-Control", "Connection", "Mcp-Session-Id", "X-Accel-Buffering", "Allow"}

// volatile are the values that differ between two identical calls.
var volatile = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|dec_[0-9A-Za-z]+`)

// diffRequest is one request of the corpus.
type diffRequest struct {
	name    string
	version string // MCP-Protocol-Version; "" sends none
	accept  string
	headers map[string]string // more headers (Mcp-Method, Mcp-Name, …)
	body    string
	fast    bool // the fast path must answer it
}

func (d diffRequest) send(t testing.TB, g *gateway) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", g.url, strings.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if d.accept != "" {
		req.Header.Set("Accept", d.accept)
	}
	if d.version != "" {
		req.Header.Set("MCP-Protocol-Version", d.version)
	}
	for k, v := range d.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+g.acme.AgentKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b = volatile.ReplaceAll(b, []byte("<id>"))
	a := answer{Status: resp.StatusCode, Headers: map[string]string{}}
	for _, h := range comparedHeaders {
		a.Headers[h] = strings.Join(resp.Header.Values(h), "|")
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		a.Events = parseSSE(t, b)
	} else {
		a.Body = parseJSON(b)
	}
	return a
}

// parseSSE splits a stream into its events.
func parseSSE(t testing.TB, b []byte) []sseEvent {
	var evs []sseEvent
	var ev sseEvent
	var data []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" || data != nil {
				ev.Data = parseJSON([]byte(strings.Join(data, "\n")))
				evs = append(evs, ev)
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, "event: "):
			ev.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return evs
}

// parseJSON returns b as parsed JSON, or as text if it is not JSON.
func parseJSON(b []byte) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if d.Decode(&v) != nil || d.More() {
		return string(b)
	}
	return v
}

// compare sends d through both paths and fails on any difference.
func compare(t testing.TB, g *gateway, d diffRequest) {
	t.Helper()
	mcpserver.SetFastPath(g.server, false)
	slow := d.send(t, g)
	mcpserver.SetFastPath(g.server, true)
	before := mcpserver.FastCalls(g.server)
	fast := d.send(t, g)
	took := mcpserver.FastCalls(g.server) > before
	if d.fast && !took {
		t.Errorf("%s: the fast path did not answer", d.name)
	}
	if !reflect.DeepEqual(slow, fast) {
		sj, _ := json.MarshalIndent(slow, "", " ")
		fj, _ := json.MarshalIndent(fast, "", " ")
		t.Errorf("%s (fast path answered: %v): the paths differ\nSDK:  %s\nfast: %s", d.name, took, sj, fj)
	}
}

const newMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

// callRequest is a tools/call of name with args (JSON) and the given ID,
// for version, with what that version needs (the _meta triple and the
// Mcp-Method and Mcp-Name headers of 2026-07-28).
func callRequest(version, accept, id, name, args string) diffRequest {
	d := diffRequest{name: version + " " + name + " " + args + " id " + id, version: version, accept: accept, fast: true}
	params := `"name":` + quote(name) + `,"arguments":` + args
	if version >= "2026-07-28" {
		params += "," + newMeta
		d.headers = map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": name}
	}
	d.body = `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{` + params + `}}`
	return d
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var (
	diffVersions = []string{"", "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}
	diffAccepts  = []string{"application/json, text/event-stream", "*/*", "text/event-stream;q=0.9, application/*"}
)

// diffCorpus is the differential test's corpus; unreachable is a URL
// nothing listens on (a failing connector).
func diffCorpus(unreachable string) []diffRequest {
	outcomes := []struct {
		tool, args string
		fast       bool
	}{
		{tools.WebSearch, `{"query":"AI governance","max_results":1}`, true},                 // executed
		{tools.WebSearch, `{"query":"is AKIAIOSFODNN7EXAMPLE still valid"}`, true},           // denied
		{tools.SendEmail, `{"to":"bob@example.com","subject":"Hi","body":"Hello"}`, true},    // pending approval
		{tools.WebSearch, `{"query":5}`, true},                                               // invalid arguments
		{tools.HTTPRequest, `{"method":"GET","url":"` + unreachable + `"}`, true},            // failed connector
		{"no_such_tool", `{}`, false},                                                        // unknown tool
		{tools.ApprovalStatus, `{"action_id":"00000000-0000-0000-0000-000000000000"}`, true}, // a built-in
	}
	var c []diffRequest
	for _, v := range diffVersions {
		for i, a := range diffAccepts {
			for _, o := range outcomes {
				if i > 0 && o.tool != tools.WebSearch {
					continue // every Accept with one tool is enough
				}
				d := callRequest(v, a, "1", o.tool, o.args)
				d.fast = o.fast
				c = append(c, d)
			}
		}
		for _, id := range []string{`"abc"`, `""`, `"é\u00e9<>&"`, `0`, `-7`, `9007199254740993`, `1.5`, `1e2`, `null`, `true`} {
			d := callRequest(v, diffAccepts[0], id, tools.WebSearch, `{"query":"ids"}`)
			d.fast = id[0] == '"' || id == "0" || id == "-7"
			c = append(c, d)
		}
		// _meta with a progress token: answered; extra members: the SDK's.
		d := callRequest(v, diffAccepts[0], "2", tools.WebSearch, `{"query":"meta"}`)
		if v >= "2026-07-28" {
			d.body = strings.Replace(d.body, `"_meta":{`, `"_meta":{"progressToken":"p1",`, 1)
		} else {
			d.body = strings.Replace(d.body, `"arguments"`, `"_meta":{"progressToken":7},"arguments"`, 1)
		}
		c = append(c, d)
		for _, extra := range []struct{ from, to string }{
			{`"jsonrpc":"2.0"`, `"jsonrpc":"2.0","extra":1`},
			{`"params":{`, `"params":{"extra":1,`},
			{`"arguments":{`, `"arguments":{"extra":1,`},
			{`"jsonrpc":"2.0"`, `"jsonrpc":"1.0"`},
			{`"method"`, `"Method"`},
			{`"arguments":{"query":"extra"}`, `"arguments":null`},
			{`"arguments":{"query":"extra"}`, `"arguments":[]`},
		} {
			d := callRequest(v, diffAccepts[0], "3", tools.WebSearch, `{"query":"extra"}`)
			d.body = strings.Replace(d.body, extra.from, extra.to, 1)
			d.name += " with " + extra.to
			d.fast = extra.from == `"arguments":{`
			c = append(c, d)
		}
	}
	// Headers the fast path must check as the SDK does.
	ws := func(v string) diffRequest {
		return callRequest(v, diffAccepts[0], "4", tools.WebSearch, `{"query":"headers"}`)
	}
	for _, mod := range []func(*diffRequest){
		func(d *diffRequest) { d.accept = "application/json" },
		func(d *diffRequest) { d.accept = "text/event-stream" },
		func(d *diffRequest) { d.accept = "" },
		func(d *diffRequest) { d.version = "2099-01-01" },
		func(d *diffRequest) { d.version = "2025-01-01" },
		func(d *diffRequest) { d.headers["Mcp-Method"] = "tools/list" },
		func(d *diffRequest) { d.headers["Mcp-Name"] = tools.SendEmail },
		func(d *diffRequest) { delete(d.headers, "Mcp-Name") },
		func(d *diffRequest) { delete(d.headers, "Mcp-Method") },
		func(d *diffRequest) { d.headers["Mcp-Session-Id"] = "s1" },
		func(d *diffRequest) { d.headers["Last-Event-ID"] = "x_1" },
		func(d *diffRequest) { d.headers["Mcp-Param-Query"] = "headers" },
		func(d *diffRequest) { d.body = strings.Replace(d.body, `"2026-07-28","io`, `"2025-11-25","io`, 1) },
		func(d *diffRequest) {
			d.body = strings.Replace(d.body, `,"io.modelcontextprotocol/clientCapabilities":{}`, ``, 1)
		},
		func(d *diffRequest) {
			d.body = strings.Replace(d.body, `"clientCapabilities":{}`, `"clientCapabilities":{"sampling":5}`, 1)
		},
		func(d *diffRequest) { d.body = strings.Replace(d.body, `{"name":"t","version":"1"}`, `"t"`, 1) },
		func(d *diffRequest) { d.body = strings.Replace(d.body, `{"name":"t","version":"1"}`, `null`, 1) },
	} {
		d := ws("2026-07-28")
		mod(&d)
		d.name += " modified"
		d.fast = false
		c = append(c, d)
	}
	// An older version carrying the 2026-07-28 _meta goes to the SDK.
	d := ws("2025-11-25")
	d.body = strings.Replace(d.body, `"arguments"`, newMeta+`,"arguments"`, 1)
	d.fast = false
	c = append(c, d)
	return c
}

func TestFastPathMatchesSDK(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, d := range diffCorpus(unreachable) {
		compare(t, g, d)
	}
}

// A call cancelled by notifications/cancelled is recorded cancelled and
// gets the same (empty) answer from both paths.
func TestFastPathCancelledMatchesSDK(t *testing.T) {
	g := newGateway(t, gatewayOptions{noop: true})
	started := make(chan struct{}, 1)
	g.gov.Policy = blockingDecider{g.gov.Policy, started}
	var answers []answer
	for _, fast := range []bool{false, true} {
		mcpserver.SetFastPath(g.server, fast)
		before := mcpserver.FastCalls(g.server)
		d := callRequest("2025-06-18", diffAccepts[0], `"call-9"`, tools.WebSearch, `{"query":"x"}`)
		got := make(chan answer, 1)
		go func() { got <- d.send(t, g) }()
		<-started
		resp, err := rawCall(t.Context(), g, "2025-06-18", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"call-9"}}`)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		answers = append(answers, <-got)
		waitCancelled(t, g)
		if took := mcpserver.FastCalls(g.server) > before; took != fast {
			t.Errorf("fast path on: %v, answered by it: %v", fast, took)
		}
	}
	if !reflect.DeepEqual(answers[0], answers[1]) {
		t.Errorf("the paths differ:\nSDK:  %+v\nfast: %+v", answers[0], answers[1])
	}
	if len(answers[1].Events) != 0 {
		t.Errorf("answer = %+v, want none (the spec asks for no response to a cancelled request)", answers[1])
	}
}

// unreachable is a URL of a port nothing listens on.
const unreachable = "http://127.0.0.1:1/"

// FuzzFastPath sends what it is given through both paths. Its seeds (the
// corpus) run with every go test; fuzzing proper builds the SQLite driver
// instrumented, which takes many minutes on a busy machine.
func FuzzFastPath(f *testing.F) {
	for _, d := range diffCorpus(unreachable) {
		f.Add(d.version, d.accept, d.headers["Mcp-Method"], d.headers["Mcp-Name"], d.body)
	}
	g := newGateway(f, gatewayOptions{noop: true})
	f.Fuzz(func(t *testing.T, version, accept, method, name, body string) {
		for _, s := range []string{version, accept, method, name} {
			if strings.ContainsAny(s, "\r\n\x00") || !isHeaderValue(s) {
				return
			}
		}
		if strings.Contains(body, "subscriptions/listen") {
			return // a stream that stays open until the client leaves
		}
		d := diffRequest{name: "fuzz", version: version, accept: accept, body: body, headers: map[string]string{}}
		if method != "" {
			d.headers["Mcp-Method"] = method
		}
		if name != "" {
			d.headers["Mcp-Name"] = name
		}
		compare(t, g, d)
	})
}

// isHeaderValue reports whether s can be sent as a header value.
func isHeaderValue(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || r > 0x7e {
			return false
		}
	}
	return strings.TrimSpace(s) == s
}

// A call the governor fails (here: the audit trail is closed, so the call
// cannot be recorded) gets the same JSON-RPC error from both paths, in
// every protocol era.
func TestFastPathErrorMatchesSDK(t *testing.T) {
	g := newGateway(t, gatewayOptions{noop: true})
	g.log.Close()
	for _, v := range diffVersions {
		d := callRequest(v, diffAccepts[0], "5", tools.WebSearch, `{"query":"no audit"}`)
		compare(t, g, d)
		mcpserver.SetFastPath(g.server, true)
		a := d.send(t, g)
		if b, _ := json.Marshal(a); !strings.Contains(string(b), `"code":-32603`) {
			t.Errorf("%s: answer = %s, want an internal error", d.name, b)
		}
	}
}

// The fast path writes its answer, an SSE stream of one event, as one
// HTTP response with a Content-Length: one write to the connection, not
// the headers and a chunk, then the last chunk (an explicit flush). The
// body is the same event the SDK writes.
func TestFastPathAnswersInOneResponse(t *testing.T) {
	g := newGateway(t, gatewayOptions{noop: true})
	for _, v := range []string{"2025-06-18", "2026-07-28"} {
		before := mcpserver.FastCalls(g.server)
		resp, err := rawCall(t.Context(), g, v, callRequest(v, diffAccepts[0], "7", tools.WebSearch, `{"query":"framing"}`).body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if mcpserver.FastCalls(g.server) == before {
			t.Fatalf("%s: the fast path did not answer", v)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("%s: status %d, Content-Type %q", v, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if len(resp.TransferEncoding) != 0 || resp.ContentLength != int64(len(b)) {
			t.Errorf("%s: Transfer-Encoding %q, Content-Length %d for a body of %d bytes, want one response of known length",
				v, resp.TransferEncoding, resp.ContentLength, len(b))
		}
		if evs := parseSSE(t, b); len(evs) != 1 || evs[0].Name != "message" {
			t.Errorf("%s: events %+v, want one message", v, evs)
		}
	}
}
