package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

// MaxResultBytes bounds an upstream's answer.
const MaxResultBytes = 4 << 20

// Tools implements tools.Source: the tenant's pinned upstream tools,
// except those whose live definition (as last listed on this gateway)
// differs from the pin. An upstream not listed yet is connected in the
// background; its pinned tools are served meanwhile, and a call checks the
// live definition before it runs.
func (s *Service) Tools(ctx context.Context, tenantID string) ([]*tools.Tool, error) {
	ups, err := s.Store.Upstreams(ctx, tenantID)
	if err != nil || len(ups) == 0 {
		return nil, err
	}
	pins, err := s.Store.Pins(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	s.forgetOthers(tenantID, ups)
	conns := map[string]*conn{}
	for _, u := range ups {
		c := s.pooled(u)
		conns[u.Name] = c
		if c.liveTools() == nil && c.Health().State != StateConnecting {
			go s.refreshKey(c.key)
		}
	}
	var out []*tools.Tool
	for _, p := range pins {
		c := conns[p.Upstream]
		if c == nil {
			continue
		}
		if lv := c.liveTools(); lv != nil {
			if l, ok := lv[p.Tool]; !ok || l.digest != p.Digest {
				continue // withheld until an admin approves
			}
		}
		t, err := s.tool(c.key, p)
		if err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "pinned upstream tool cannot be served",
				slog.String(logKeyTenant, tenantID), slog.String(logKeyUpstream, p.Upstream),
				slog.String(logKeyTool, p.Tool), slog.String(logKeyError, err.Error()))
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

// tool makes the governed tool of a pin.
func (s *Service) tool(k key, p Pin) (*tools.Tool, error) {
	var d Definition
	if err := json.Unmarshal(p.Definition, &d); err != nil {
		return nil, err
	}
	var schema jsonschema.Schema
	if err := json.Unmarshal(d.InputSchema, &schema); err != nil {
		return nil, err
	}
	var ann json.RawMessage
	readOnly := false
	title := d.Title
	if a := d.Annotations; a != nil {
		ann, _ = json.Marshal(a)
		readOnly = a.ReadOnlyHint != nil && *a.ReadOnlyHint
		if title == "" {
			title = a.Title
		}
	}
	name := p.Upstream + Separator + p.Tool
	return tools.NewTool(tools.Tool{
		Name: name, Title: title, Description: d.Description, Schema: &schema, ReadOnly: readOnly,
		Upstream: p.Upstream, Annotations: ann, Version: p.Digest,
		Summary:   func(json.RawMessage) string { return "call " + p.Tool + " on " + p.Upstream },
		Connector: &connector{svc: s, key: k, tool: p.Tool, digest: p.Digest},
	})
}

// connector runs a call on the upstream's pooled session.
type connector struct {
	svc    *Service
	key    key
	tool   string
	digest string
}

// Call implements tools.Connector.
func (t *connector) Call(ctx context.Context, call *tools.Call) (tools.Result, error) {
	s := t.svc
	c := s.peek(t.key)
	if c == nil {
		return tools.Result{}, vargate.Errorf(vargate.KindUpstream, "upstream %s was removed", t.key.name)
	}
	u := c.cfg
	ctx, cancel := context.WithTimeout(ctx, u.Timeouts.Call())
	defer cancel()
	cs, err := c.session(ctx)
	if err != nil {
		return tools.Result{}, tools.Failed(err, "upstream %s cannot be reached", u.Name)
	}
	lv := c.liveTools()
	if lv == nil {
		if lv, err = s.list(ctx, c); err != nil {
			return tools.Result{}, tools.Failed(err, "upstream %s cannot list its tools", u.Name)
		}
	}
	if l, ok := lv[t.tool]; !ok || l.digest != t.digest {
		return tools.Result{}, vargate.Errorf(vargate.KindForbidden,
			"tool_changed: upstream %s no longer serves the approved definition of %s; it is withheld until an admin approves the change", u.Name, t.tool)
	}
	// Every value of the upstream's credentials this gateway released
	// (the session's, the call's) is removed from what the call returns.
	for _, v := range s.scrubs(t.key) {
		call.Remember(string(v))
	}
	if cr := u.Credential; cr != nil && !u.Stdio() {
		actor := call.AgentID
		if actor == "" {
			actor = call.Actor
		}
		sec, err := s.use(ctx, u, vault.Purpose{ActionID: call.ActionID, SessionID: call.SessionID, Actor: actor, Host: u.host()})
		if err != nil {
			return tools.Result{}, err
		}
		inj, err := inject(sec, cr)
		sec.Wipe()
		if err != nil {
			return tools.Result{}, err
		}
		ctx = context.WithValue(ctx, credKey{}, &inj)
		call.Remember(inj.secret, inj.value)
		s.addScrub(t.key, []byte(inj.secret))
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: t.tool, Arguments: json.RawMessage(call.Args)})
	if err != nil {
		return scrubbed(call, tools.Result{}, t.failure(ctx, c, cs, u, err))
	}
	r, err := result(res)
	return scrubbed(call, r, err)
}

// scrubbed removes the released credential values from a result; a
// structured content that is no longer JSON is dropped (the text stays).
func scrubbed(call *tools.Call, r tools.Result, err error) (tools.Result, error) {
	r, err = call.Scrub(r, err)
	if len(r.Structured) > 0 && !json.Valid(r.Structured) {
		r.Structured = nil
	}
	return r, err
}

// failure turns a failed call into an error for the agent: a timeout, a
// refusal by the upstream, or a broken session (dropped, so that the
// next call connects again).
func (t *connector) failure(ctx context.Context, c *conn, cs *mcp.ClientSession, u Upstream, err error) error {
	var rpc *jsonrpc.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return tools.Failed(err, "upstream %s did not answer within %s", u.Name, u.Timeouts.Call())
	case ctx.Err() != nil:
		return tools.Failed(err, "the call to upstream %s was cancelled", u.Name)
	case errors.As(err, &rpc):
		msg := rpc.Message
		if len(msg) > 300 {
			msg = strings.ToValidUTF8(msg[:300], "") + "…"
		}
		return tools.Failed(err, "upstream %s refused the call: %s", u.Name, msg)
	}
	c.drop(cs, err)
	return tools.Failed(err, "upstream %s failed: the connection broke or the answer was not valid MCP", u.Name)
}

// result converts an upstream's answer: text content as text (other
// content as its JSON), structured content as it is.
func result(res *mcp.CallToolResult) (tools.Result, error) {
	var parts []string
	size := 0
	for _, ct := range res.Content {
		var p string
		if tc, ok := ct.(*mcp.TextContent); ok {
			p = tc.Text
		} else {
			b, err := json.Marshal(ct)
			if err != nil {
				continue
			}
			p = string(b)
		}
		size += len(p)
		parts = append(parts, p)
	}
	r := tools.Result{Text: strings.Join(parts, "\n"), IsError: res.IsError}
	if res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			r.Structured = b
			size += len(b)
		}
	}
	if size > MaxResultBytes {
		return tools.Result{}, vargate.Errorf(vargate.KindUpstream, "the upstream's answer is larger than %d bytes", MaxResultBytes)
	}
	if r.Text == "" && len(r.Structured) == 0 {
		r.Text = "(no content)"
	}
	return r, nil
}
