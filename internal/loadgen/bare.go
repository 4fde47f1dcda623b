package loadgen

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewBareHandler returns the floor of the comparison: the MCP SDK's
// stateless Streamable HTTP handler with no-op tools of the given names
// (input schema NoopSchema, except for the denied tool, which takes a
// query), and nothing else — no authentication, no governance, no audit.
// What a call costs here is what MCP itself costs.
func NewBareHandler(names ...string) http.Handler {
	srv := mcp.NewServer(&mcp.Implementation{Name: "bare", Version: "1"},
		&mcp.ServerOptions{Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{}}})
	noop := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: `{"ok":true}`}},
			StructuredContent: json.RawMessage(`{"ok":true}`),
		}, nil
	}
	for _, n := range names {
		schema := json.RawMessage(NoopSchema)
		if n == deniedTool {
			schema = json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"max_results":{"type":"integer"}},"required":["query"]}`)
		}
		srv.AddTool(&mcp.Tool{Name: n, InputSchema: schema}, noop)
	}
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, DisableLocalhostProtection: true})
}
