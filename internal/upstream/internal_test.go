package upstream

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/tools"
)

// FuzzScrub: a credential value never survives in a result, in text or in
// structured content, however it is surrounded or escaped.
func FuzzScrub(f *testing.F) {
	f.Add("s3cret-token", "before ", " after")
	f.Add(`to"ken<&>\`, `{"x":`, "\n")
	f.Add("ключ-секрет", "\u2028", "\x00")
	f.Fuzz(func(t *testing.T, secret, pre, post string) {
		if len(secret) < 6 || strings.Contains(tools.Redacted, secret) || strings.Contains(secret, tools.Redacted) {
			t.Skip()
		}
		res := &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: pre + secret + post}},
			StructuredContent: map[string]any{"v": pre + secret + post, secret: []any{secret}},
		}
		call := &tools.Call{}
		call.Remember(secret)
		r, err := result(res)
		if err != nil {
			t.Fatal(err)
		}
		r, _ = scrubbed(call, r, nil)
		if strings.Contains(r.Text, secret) {
			t.Errorf("text keeps the secret: %q", r.Text)
		}
		if len(r.Structured) > 0 {
			var v any
			if err := json.Unmarshal(r.Structured, &v); err != nil {
				t.Fatalf("structured content no longer JSON: %v", err)
			}
			back, _ := json.Marshal(v)
			if strings.Contains(string(r.Structured), secret) || strings.Contains(decoded(v), secret) || strings.Contains(string(back), secret) {
				t.Errorf("structured content keeps the secret: %s", r.Structured)
			}
		}
	})
}

// decoded joins every string of a decoded JSON value.
func decoded(v any) string {
	switch x := v.(type) {
	case string:
		return x + "\x00"
	case []any:
		var b strings.Builder
		for _, e := range x {
			b.WriteString(decoded(e))
		}
		return b.String()
	case map[string]any:
		var b strings.Builder
		for k, e := range x {
			b.WriteString(k + "\x00" + decoded(e))
		}
		return b.String()
	}
	return ""
}

// TestDigestCoversEveryField: a change of any pinned field changes the
// digest; member order and whitespace in the schema do not.
func TestDigestCoversEveryField(t *testing.T) {
	ro, no := true, false
	base := &mcp.Tool{Name: "get", Title: "Get", Description: "Gets a thing.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"}}}`),
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: &no}}
	d0 := mustDef(t, base)
	reordered := *base
	reordered.InputSchema = json.RawMessage(` { "properties" : {"id":{"type":"string"}}, "type":"object" }`)
	if d := mustDef(t, &reordered); d.digest != d0.digest {
		t.Errorf("member order changed the digest")
	}
	edits := map[string]func(x *mcp.Tool){
		"description": func(x *mcp.Tool) { x.Description += " " },
		"title":       func(x *mcp.Tool) { x.Title = "Get!" },
		"schema": func(x *mcp.Tool) {
			x.InputSchema = json.RawMessage(`{"type":"object","properties":{"id":{"type":"integer"}}}`)
		},
		"output schema":  func(x *mcp.Tool) { x.OutputSchema = json.RawMessage(`{"type":"object"}`) },
		"read-only":      func(x *mcp.Tool) { a := *x.Annotations; a.ReadOnlyHint = false; x.Annotations = &a },
		"destructive":    func(x *mcp.Tool) { a := *x.Annotations; a.DestructiveHint = &ro; x.Annotations = &a },
		"open world":     func(x *mcp.Tool) { a := *x.Annotations; a.OpenWorldHint = &ro; x.Annotations = &a },
		"no annotations": func(x *mcp.Tool) { x.Annotations = nil },
	}
	for name, edit := range edits {
		x := *base
		edit(&x)
		if d := mustDef(t, &x); d.digest == d0.digest {
			t.Errorf("a change of the %s kept the digest", name)
		}
	}
	if _, err := definitionOf("up", &mcp.Tool{Name: "bad name", InputSchema: json.RawMessage(`{"type":"object"}`)}); err == nil {
		t.Error("a name outside the MCP grammar was accepted")
	}
	if _, err := definitionOf("up", &mcp.Tool{Name: "x", InputSchema: json.RawMessage(`{"type":"string"}`)}); err == nil {
		t.Error("a non-object input schema was accepted")
	}
}

func mustDef(t *testing.T, x *mcp.Tool) live {
	t.Helper()
	var schema any
	if err := json.Unmarshal(x.InputSchema.(json.RawMessage), &schema); err != nil {
		t.Fatal(err)
	}
	y := *x
	y.InputSchema = schema // as the client decodes it
	l, err := definitionOf("up", &y)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
