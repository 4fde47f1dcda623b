package mcpserver

import (
	"encoding/json"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/tools"
)

// The fast path writes a tool result byte for byte as json.Marshal (the
// SDK's CallToolResult.MarshalJSON) does, for every outcome and for text
// that needs escaping, and leaves other shapes to json.Marshal.
func TestEventResultMatchesMarshal(t *testing.T) {
	odd := "a<b>&c \"q\" \\ \n\t\x01 é \u2028\u2029 \xff end"
	dec := policy.Decision{Decision: "deny", Reasons: []string{"r1: no", odd}, PolicyVersion: "v<1>", DecisionID: "dec_1"}
	var outs []govern.Outcome
	for _, st := range []govern.Status{govern.Executed, govern.Pending, govern.Denied, govern.Invalid, govern.Cancelled, govern.Failed} {
		for _, text := range []string{"", "plain", odd} {
			outs = append(outs, govern.Outcome{Status: st, ActionID: "a-1", Tool: "t" + text, Decision: dec, Message: text, Summary: text,
				Result: tools.Result{Text: text}})
		}
	}
	for _, structured := range []string{`{"ok":true}`, ` { "a" : [1, 2 ,"<&>"] } `, `"s"`, `null`, `5`} {
		outs = append(outs, govern.Outcome{Status: govern.Executed, ActionID: "a-2", Decision: policy.Decision{DecisionID: "dec_2"},
			Result: tools.Result{Structured: json.RawMessage(structured), IsError: structured == "5"}})
	}
	for _, out := range outs {
		for _, newEra := range []bool{false, true} {
			res := toolResult(out)
			if newEra {
				res.Meta[mcp.MetaKeyServerInfo] = serverInfo
			}
			want, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			b := events.Get().(*event)
			b.Reset()
			b.WriteByte('{')
			if !b.result(res) {
				t.Errorf("%+v: not written", out)
				continue
			}
			b.WriteByte('}')
			if got := b.String(); got != string(want) {
				t.Errorf("%+v:\n got %s\nwant %s", out, got, want)
			}
		}
	}
	// Shapes toolResult does not make go to json.Marshal.
	for _, res := range []*mcp.CallToolResult{
		{Content: []mcp.Content{&mcp.TextContent{Text: "x", Meta: mcp.Meta{"k": "v"}}}},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}, &mcp.TextContent{Text: "y"}}},
		{Content: []mcp.Content{&mcp.ImageContent{}}},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}}, StructuredContent: map[string]any{"a": 1}},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}}, StructuredContent: json.RawMessage(`{bad`)},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}}, Meta: mcp.Meta{"n": 1}},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}}, Meta: mcp.Meta{"i": implementation()}},
		{Content: []mcp.Content{&mcp.TextContent{Text: "x"}}, RequestState: "s"},
	} {
		b := events.Get().(*event)
		b.Reset()
		if b.result(res) {
			t.Errorf("%+v: written, want left to json.Marshal", res)
		}
	}
}
