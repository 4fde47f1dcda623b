package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vargate/vargate"
)

// UpstreamTool is the no-op tool of the upstream MCP server SetupUpstream
// runs.
const UpstreamTool = "read"

// UpstreamFixture measures what governing a third-party MCP server costs:
// an MCP server with one no-op tool, run in this process (the SDK's
// stateless handler, as NewBareHandler), declared on the gateway as an
// upstream, and an agent allowed to call its tool through the gateway.
// The direct target calls the upstream itself; the governed one calls
// "<upstream>__read" through the gateway.
type UpstreamFixture struct {
	Admin *Admin
	// Name is the upstream's name on the gateway; Tool the governed name.
	Name, Tool string
	// DirectURL is the upstream's own endpoint; MCPURL the gateway's.
	DirectURL, MCPURL string
	AgentID, KeyID    string
	AgentKey          string
	srv               *http.Server
}

// SetupUpstream starts the upstream on 127.0.0.1 and declares it on the
// gateway (which must be allowed to reach loopback addresses:
// VARGATE_ALLOW_PRIVATE_TARGETS=true), with an agent configuration that
// allows its tool and an agent key.
func SetupUpstream(ctx context.Context, o SetupOptions) (*UpstreamFixture, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &UpstreamFixture{
		Admin:     &Admin{URL: o.URL, Key: o.AdminKey, Client: o.Client},
		Name:      "bench-" + strings.ToLower(vargate.NewID("", 4)),
		DirectURL: "http://" + ln.Addr().String() + "/mcp",
		MCPURL:    strings.TrimRight(o.URL, "/") + "/api/mcp/server",
		srv:       &http.Server{Handler: NewBareHandler(UpstreamTool), ReadHeaderTimeout: 10 * time.Second},
	}
	f.Tool = f.Name + "__" + UpstreamTool
	go func() { _ = f.srv.Serve(ln) }()
	if err := f.Admin.Do(ctx, http.MethodPost, "/mcp/upstreams", map[string]any{"name": f.Name, "url": f.DirectURL}, nil); err != nil {
		return f, fmt.Errorf("declare upstream (does the gateway allow private targets?): %w", err)
	}
	var ag struct {
		ID string `json:"id"`
	}
	if err := f.Admin.Do(ctx, http.MethodPost, "/managed/agents", map[string]any{
		"name": "vargate-bench-" + f.Name, "allowed_tools": []string{f.Name + "__*"},
		"governance_profile": map[string]any{"risk_level": "standard", "pii_detection": true},
	}, &ag); err != nil {
		return f, fmt.Errorf("create agent configuration: %w", err)
	}
	f.AgentID = ag.ID
	var key struct {
		ID     string `json:"id"`
		Secret string `json:"api_key"`
	}
	if err := f.Admin.Do(ctx, http.MethodPost, "/keys", map[string]any{"role": "agent", "agent_id": ag.ID, "name": "vargate-bench-" + f.Name}, &key); err != nil {
		return f, fmt.Errorf("create agent key: %w", err)
	}
	f.KeyID, f.AgentKey = key.ID, key.Secret
	return f, nil
}

// Direct is the upstream itself; Governed the gateway.
func (f *UpstreamFixture) Direct() Target { return Target{Name: "upstream-direct", URL: f.DirectURL} }

// Governed is the upstream's tool through the gateway.
func (f *UpstreamFixture) Governed() Target {
	return Target{Name: "upstream", URL: f.MCPURL, Token: f.AgentKey}
}

// Mixes returns the one allowed call of the direct and governed targets.
func (f *UpstreamFixture) Mixes() (direct, governed []Weighted, err error) {
	args := map[string]string{"text": "status of order 42"}
	d, err := NewRequest(Allowed, UpstreamTool, args)
	if err != nil {
		return nil, nil, err
	}
	g, err := NewRequest(Allowed, f.Tool, args)
	if err != nil {
		return nil, nil, err
	}
	return []Weighted{{Request: d, Weight: 1}}, []Weighted{{Request: g, Weight: 1}}, nil
}

// Cleanup removes what SetupUpstream declared and stops the upstream.
func (f *UpstreamFixture) Cleanup(ctx context.Context) error {
	var errs []error
	if f.KeyID != "" {
		errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/keys/"+f.KeyID, nil, nil))
	}
	if f.AgentID != "" {
		errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/managed/agents/"+f.AgentID, nil, nil))
	}
	errs = append(errs, f.Admin.Do(ctx, http.MethodDelete, "/mcp/upstreams/"+f.Name, nil, nil))
	errs = append(errs, f.srv.Close())
	return errors.Join(errs...)
}
