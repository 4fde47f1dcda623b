package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// NoopTool is the built-in no-op tool a gateway offers when started with
// VARGATE_BENCH_TOOLS=true: it answers at once, so a run measures the
// gateway and not a connector.
const NoopTool = "vargate_noop"

// deniedTool is a built-in tool the bench agent is not allowed to use.
const deniedTool = "vargate_web_search"

// NoopSchema is the input schema of the no-op tools (NoopTool, the tenant
// tools made by Setup, and the bare server's).
const NoopSchema = `{"type":"object","properties":{"text":{"type":"string","maxLength":1000}},"additionalProperties":false}`

// Admin calls a gateway's REST API with an admin key.
type Admin struct {
	// URL is the gateway's base URL (http://host:port).
	URL    string
	Key    string
	Client *http.Client
}

// StatusError is an answer with an unexpected HTTP status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends in (if not nil) as JSON to /api+path and decodes a 2xx answer
// into out (if not nil).
func (a *Admin) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(a.URL, "/")+"/api"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", a.Key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: string(bytes.TrimSpace(truncate(raw, 500)))}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Fixture is what a run needs on a gateway: an agent configuration that
// allows one no-op tool, needs approval for another and does not allow a
// third, and an agent key for it.
type Fixture struct {
	Admin *Admin
	// MCPURL is the gateway's MCP endpoint.
	MCPURL   string
	AgentID  string
	KeyID    string
	AgentKey string
	// AllowedTool, ApprovalTool and DeniedTool are the tools each kind
	// of call uses.
	AllowedTool, ApprovalTool, DeniedTool string
	// TenantTools are the tenant tools Setup declared (removed by Cleanup).
	TenantTools []string
}

// SetupOptions say where Setup works.
type SetupOptions struct {
	// URL and AdminKey reach the gateway's admin API.
	URL, AdminKey string
	// EchoURL is a no-op HTTP server (StartEcho) the gateway can reach:
	// the tenant tools Setup declares call it. The approval tool always
	// is one (it runs only once approved); the allowed tool is one when
	// the gateway has no NoopTool, and then the gateway must be allowed
	// to reach the echo server (VARGATE_ALLOW_PRIVATE_TARGETS=true for a
	// loopback address).
	EchoURL string
	Client  *http.Client
}

// Setup makes the fixture through the admin API: tenant tools, an agent
// configuration and an agent key, all named vargate-bench-… so that
// several runs can share a tenant.
func Setup(ctx context.Context, o SetupOptions) (*Fixture, error) {
	a := &Admin{URL: o.URL, Key: o.AdminKey, Client: o.Client}
	f := &Fixture{Admin: a, MCPURL: strings.TrimRight(o.URL, "/") + "/api/mcp/server", DeniedTool: deniedTool}
	suffix := vargate.NewID("", 4)

	var list struct {
		Builtins []string `json:"builtin_tools"`
	}
	if err := a.Do(ctx, http.MethodGet, "/tools", nil, &list); err != nil {
		return nil, fmt.Errorf("list tools (is the key an admin key?): %w", err)
	}
	if o.EchoURL == "" {
		return nil, errors.New("setup: no echo server URL")
	}
	newTool := func(name, method, desc string) error {
		err := a.Do(ctx, http.MethodPost, "/tools", map[string]any{
			"name": name, "description": desc, "input_schema": json.RawMessage(NoopSchema),
			"request": map[string]any{"method": method, "url": strings.TrimRight(o.EchoURL, "/") + "/" + name},
		}, nil)
		if err != nil {
			return fmt.Errorf("declare tenant tool %s: %w", name, err)
		}
		f.TenantTools = append(f.TenantTools, name)
		return nil
	}
	if slices.Contains(list.Builtins, NoopTool) {
		f.AllowedTool = NoopTool
	} else {
		f.AllowedTool = "bench_read_" + suffix
		if err := newTool(f.AllowedTool, http.MethodGet, "Read something (vargate bench no-op)"); err != nil {
			return f, err
		}
	}
	f.ApprovalTool = "bench_write_" + suffix
	if err := newTool(f.ApprovalTool, http.MethodPost, "Change something (vargate bench no-op; needs approval)"); err != nil {
		return f, err
	}

	var ag struct {
		ID string `json:"id"`
	}
	err := a.Do(ctx, http.MethodPost, "/managed/agents", map[string]any{
		"name":                   "vargate-bench-" + suffix,
		"allowed_tools":          []string{f.AllowedTool, f.ApprovalTool},
		"require_human_approval": []string{"bench_write_*"},
		"governance_profile":     map[string]any{"risk_level": "standard", "pii_detection": true},
	}, &ag)
	if err != nil {
		return f, fmt.Errorf("create agent configuration: %w", err)
	}
	f.AgentID = ag.ID
	var key struct {
		ID     string `json:"id"`
		Secret string `json:"api_key"`
	}
	if err := a.Do(ctx, http.MethodPost, "/keys", map[string]any{"role": "agent", "agent_id": ag.ID, "name": "vargate-bench-" + suffix}, &key); err != nil {
		return f, fmt.Errorf("create agent key: %w", err)
	}
	f.KeyID, f.AgentKey = key.ID, key.Secret
	return f, nil
}

// Target is the fixture's MCP endpoint with its agent key.
func (f *Fixture) Target(name string) Target {
	return Target{Name: name, URL: f.MCPURL, Token: f.AgentKey}
}

// Mix returns the calls of the fixture in the given proportions.
func (f *Fixture) Mix(allowed, denied, approval int) ([]Weighted, error) {
	return ToolMix(f.AllowedTool, f.DeniedTool, f.ApprovalTool, allowed, denied, approval)
}

// ToolMix returns calls of the three tools in the given proportions.
func ToolMix(allowedTool, deniedTool, approvalTool string, allowed, denied, approval int) ([]Weighted, error) {
	var mix []Weighted
	for _, c := range []struct {
		kind   Kind
		tool   string
		args   any
		weight int
	}{
		{Allowed, allowedTool, map[string]string{"text": "status of order 42"}, allowed},
		{Denied, deniedTool, map[string]string{"query": "enterprise AI governance"}, denied},
		{Approval, approvalTool, map[string]string{"text": "refund order 42"}, approval},
	} {
		if c.weight <= 0 {
			continue
		}
		r, err := NewRequest(c.kind, c.tool, c.args)
		if err != nil {
			return nil, err
		}
		mix = append(mix, Weighted{Request: r, Weight: c.weight})
	}
	if len(mix) == 0 {
		return nil, errors.New("the mix has no calls")
	}
	return mix, nil
}

// Cleanup revokes the agent key, archives the configuration and removes
// the tenant tools. Queued approvals stay (they expire).
func (f *Fixture) Cleanup(ctx context.Context) error {
	var errs []error
	if f.KeyID != "" {
		errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/keys/"+f.KeyID, nil, nil))
	}
	if f.AgentID != "" {
		errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/managed/agents/"+f.AgentID, nil, nil))
	}
	for _, t := range f.TenantTools {
		errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/tools/"+t, nil, nil))
	}
	return errors.Join(errs...)
}

// Echo is a no-op HTTP server: every request gets {"ok":true}.
type Echo struct {
	URL string
	srv *http.Server
}

// StartEcho serves on addr ("127.0.0.1:0" for any free port).
func StartEcho(addr string) (*Echo, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	return &Echo{URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// Close stops the server.
func (e *Echo) Close() error { return e.srv.Close() }
