package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// errMCPAuth marks an MCP call the server refused (401 or 403).
var errMCPAuth = errors.New("mcp server refused the credentials")

// bearerTransport adds the vault's token to every request to the MCP server
// and remembers whether the server refused it.
type bearerTransport struct {
	token   string
	base    http.RoundTripper
	refused atomic.Bool
}

func (t *bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.base.RoundTrip(r)
	if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		t.refused.Store(true)
	}
	return resp, err
}

// callMCP calls tool on the MCP server at url over Streamable HTTP, with
// token as a bearer token when it is not empty. It returns the result
// content as Managed Agents content blocks. A tool that fails returns its
// result with isError; an error means the call could not be made.
func (s *Server) callMCP(ctx context.Context, url, token, tool string, input map[string]any) (content []map[string]any, isError bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.MCPTimeout)
	defer cancel()
	base := s.opts.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	rt := &bearerTransport{token: token, base: base}
	hc := *s.opts.HTTPClient
	hc.Transport = rt
	client := mcp.NewClient(&mcp.Implementation{Name: "claude-managed-agents-simulator", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: url, HTTPClient: &hc, MaxRetries: -1, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		return nil, false, mcpError(rt, fmt.Errorf("connect to MCP server: %w", err))
	}
	defer cs.Close()
	args := input
	if args == nil {
		args = map[string]any{}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return nil, false, mcpError(rt, fmt.Errorf("call MCP tool %s: %w", tool, err))
	}
	return mcpContent(res), res.IsError, nil
}

func mcpError(rt *bearerTransport, err error) error {
	if rt.refused.Load() {
		return fmt.Errorf("%w: %w", errMCPAuth, err)
	}
	return err
}

// mcpContent converts an MCP tool result to content blocks: text stays
// text, images become base64 image blocks, anything else is written as
// JSON text. A result with only structured content gets it as JSON text.
func mcpContent(res *mcp.CallToolResult) []map[string]any {
	out := make([]map[string]any, 0, len(res.Content))
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			out = append(out, textBlock(c.Text))
		case *mcp.ImageContent:
			out = append(out, map[string]any{"type": "image", "source": map[string]any{
				"type": "base64", "media_type": c.MIMEType, "data": base64.StdEncoding.EncodeToString(c.Data),
			}})
		default:
			b, _ := json.Marshal(c)
			out = append(out, textBlock(string(b)))
		}
	}
	if len(out) == 0 && res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		out = append(out, textBlock(string(b)))
	}
	return out
}

func textBlock(text string) map[string]any { return map[string]any{"type": "text", "text": text} }
