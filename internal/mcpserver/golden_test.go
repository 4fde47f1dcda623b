package mcpserver_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/vargate/vargate/internal/tools"
)

// update rewrites the golden transcripts from today's answers:
// go test ./internal/mcpserver -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden from the gateway's answers")

// The protocol versions of the transcripts: 2026-07-28 sends the routing
// headers (Mcp-Method, Mcp-Name) and the client's details in each
// request's _meta; initialize exists only before it.
const (
	goldenVersion = "2026-07-28"
	legacyVersion = "2025-11-25"
)

// goldenMeta is the _meta of a 2026-07-28 request.
var goldenMeta = map[string]any{
	"io.modelcontextprotocol/protocolVersion":    goldenVersion,
	"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "golden", "version": "1"},
	"io.modelcontextprotocol/clientCapabilities": map[string]any{},
}

// goldenCase is one exchange: a JSON-RPC request from the acme agent.
type goldenCase struct {
	name    string
	version string
	id      int
	method  string
	tool    string // tools/call: the tool's name (and the Mcp-Name header)
	args    string // tools/call: the arguments; other methods: the params
}

var goldenCases = []goldenCase{
	{"initialize", legacyVersion, 1, "initialize", "", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"golden","version":"1"}}`},
	{"tools_list", goldenVersion, 2, "tools/list", "", `{}`},
	{"call_executed", goldenVersion, 3, "tools/call", tools.WebSearch, `{"query":"AI governance","max_results":2}`},
	{"call_denied", goldenVersion, 4, "tools/call", tools.WebSearch, `{"query":"is AKIAIOSFODNN7EXAMPLE still valid"}`},
	{"call_pending_approval", goldenVersion, 5, "tools/call", tools.SendEmail, `{"to":"bob@example.com","subject":"Report","body":"Hello Bob"}`},
	{"call_invalid_arguments", goldenVersion, 6, "tools/call", tools.WebSearch, `{"query":42}`},
	{"call_unknown_tool", goldenVersion, 7, "tools/call", "vargate_transfer_funds", `{}`},
	{"call_connector_failed", goldenVersion, 8, "tools/call", tools.ReadDatabase, `{"query":"SELECT 1"}`},
}

// body is the exchange's JSON-RPC request.
func (c goldenCase) body(t *testing.T) []byte {
	t.Helper()
	var args map[string]any
	if err := json.Unmarshal([]byte(c.args), &args); err != nil {
		t.Fatal(err)
	}
	params := args
	if c.tool != "" {
		params = map[string]any{"name": c.tool, "arguments": args}
	}
	if c.version == goldenVersion {
		params["_meta"] = goldenMeta
	}
	b, err := json.MarshalIndent(map[string]any{"jsonrpc": "2.0", "id": c.id, "method": c.method, "params": params}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenTranscripts posts each exchange to the gateway and compares
// the answer with testdata/golden/NAME.txtar: the status, the
// Content-Type and the body as JSON (key order and white space do not
// matter; an event stream is compared message by message). Values that
// differ from run to run are masked first (see mask).
func TestGoldenTranscripts(t *testing.T) {
	g := newGateway(t, gatewayOptions{})
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			req := goldenRequest(t, g, c)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := transcript{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"),
				messages: messages(t, resp.Header.Get("Content-Type"), raw)}
			path := filepath.Join("testdata", "golden", c.name+".txtar")
			if *update {
				writeGolden(t, path, c, got)
				return
			}
			want := readGolden(t, path)
			if got.status != want.status || got.contentType != want.contentType || !reflect.DeepEqual(got.messages, want.messages) {
				t.Errorf("%s differs from %s (run with -update to accept):\n got: %s\nwant: %s", c.name, path, got.response(), want.response())
			}
		})
	}
}

// goldenRequest builds the exchange's HTTP request as an agent sends it.
func goldenRequest(t *testing.T, g *gateway, c goldenCase) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", g.url, bytes.NewReader(c.body(t)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range goldenHeaders(c) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+g.acme.AgentKey)
	return req
}

// goldenHeaders are the request headers that matter, as recorded (the
// Authorization header, an agent key, is recorded masked).
func goldenHeaders(c goldenCase) map[string]string {
	h := map[string]string{
		"Content-Type":         "application/json",
		"Accept":               "application/json, text/event-stream",
		"MCP-Protocol-Version": c.version,
	}
	if c.version == goldenVersion {
		h["Mcp-Method"] = c.method
		if c.tool != "" {
			h["Mcp-Name"] = c.tool
		}
	}
	return h
}

// transcript is a response as the golden files keep it.
type transcript struct {
	status      int
	contentType string
	messages    []any // the JSON body, or each event's data; masked
}

// response renders the transcript's response section.
func (tr transcript) response() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d\nContent-Type: %s\n\n", tr.status, tr.contentType)
	sse := strings.HasPrefix(tr.contentType, "text/event-stream")
	for _, m := range tr.messages {
		if sse {
			fmt.Fprintf(&b, "data: %s\n", encode(m, ""))
			continue
		}
		fmt.Fprintf(&b, "%s", encode(m, "  "))
	}
	return b.String()
}

// encode writes v as JSON (not escaping <, > and &, for the placeholders),
// indented when indent is not empty; it ends in a newline only when
// indented.
func encode(v any, indent string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	_ = enc.Encode(v) // v came from json.Unmarshal
	if indent == "" {
		return strings.TrimSuffix(b.String(), "\n")
	}
	return b.String()
}

// messages parses a response body: a JSON body is one message, an event
// stream one message per data line. Each is masked.
func messages(t *testing.T, contentType string, raw []byte) []any {
	t.Helper()
	var bodies [][]byte
	if strings.HasPrefix(contentType, "text/event-stream") {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if data, ok := strings.CutPrefix(line, "data:"); ok {
				bodies = append(bodies, []byte(strings.TrimSpace(data)))
			}
		}
	} else if len(bytes.TrimSpace(raw)) > 0 {
		bodies = [][]byte{raw}
	}
	var out []any
	for _, b := range bodies {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("response is not JSON: %v\n%s", err, raw)
		}
		out = append(out, mask(v))
	}
	return out
}

// The masking rule: every part of a string value that matches one of
// these is replaced by its placeholder, wherever it appears (text content
// too): action IDs (UUIDs), the gateway's prefixed random IDs
// (vargate.NewID: a known prefix, "-" or "_", lowercase hex), RFC 3339
// timestamps and 64-digit hex digests. Everything else must match
// exactly. (A placeholder does not say which ID it stood for: that the
// result's IDs agree with each other is for the other tests to check.)
var masks = []struct {
	re          *regexp.Regexp
	placeholder string
}{
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<uuid>"},
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<digest>"},
	{regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`), "<time>"},
	{regexp.MustCompile(`\b(act|apr|dec|agent|tenant|key|req|rec|vs|tok|cred|dek)[-_][0-9a-f]{6,}\b`), "<$1-id>"},
}

// mask applies the masking rule to every string in v.
func mask(v any) any {
	switch x := v.(type) {
	case string:
		for _, m := range masks {
			x = m.re.ReplaceAllString(x, m.placeholder)
		}
		return x
	case []any:
		for i := range x {
			x[i] = mask(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = mask(x[k])
		}
		return x
	}
	return v
}

// writeGolden writes the transcript of c to path.
func writeGolden(t *testing.T, path string, c goldenCase, got transcript) {
	t.Helper()
	var req strings.Builder
	req.WriteString("POST " + "/api/mcp/server\n")
	h := goldenHeaders(c)
	h["Authorization"] = "Bearer <agent-key>"
	for _, k := range []string{"Content-Type", "Accept", "Authorization", "MCP-Protocol-Version", "Mcp-Method", "Mcp-Name"} {
		if v, ok := h[k]; ok {
			fmt.Fprintf(&req, "%s: %s\n", k, v)
		}
	}
	req.WriteString("\n" + string(c.body(t)) + "\n")
	a := &txtar.Archive{
		Comment: []byte("The " + c.name + " exchange, as the acme agent sends it; regenerate with\ngo test ./internal/mcpserver -run Golden -update\n"),
		Files:   []txtar.File{{Name: "request", Data: []byte(req.String())}, {Name: "response", Data: []byte(got.response())}},
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, txtar.Format(a), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readGolden reads the response section of a transcript.
func readGolden(t *testing.T, path string) transcript {
	t.Helper()
	a, err := txtar.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Files {
		if f.Name != "response" {
			continue
		}
		head, body, _ := strings.Cut(string(f.Data), "\n\n")
		var tr transcript
		lines := strings.Split(head, "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: response head %q, want a status and a Content-Type line", path, head)
		}
		if _, err := fmt.Sscanf(lines[0], "HTTP %d", &tr.status); err != nil {
			t.Fatalf("%s: status line %q: %v", path, lines[0], err)
		}
		tr.contentType = strings.TrimPrefix(lines[1], "Content-Type: ")
		tr.messages = messages(t, tr.contentType, []byte(body))
		return tr
	}
	t.Fatalf("%s has no response section", path)
	return transcript{}
}
