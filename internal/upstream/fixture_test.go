package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/testwait"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/upstream"
	"github.com/vargate/vargate/internal/vault"
)

const tenant = "tenant-a"

// fixture is an upstream.Service over a fresh SQLite database, with a
// fake vault, and the audit records and webhooks it produced.
type fixture struct {
	svc     *upstream.Service
	db      *sqlstore.DB
	creds   *fakeCreds
	mu      sync.Mutex
	records []audit.Record
	events  []event
	changed atomic.Int32
}

type event struct {
	tenant, name string
	data         map[string]any
}

func newFixture(t *testing.T, allowPrivate bool) *fixture { return newFixtureTB(t, allowPrivate) }

func newFixtureTB(t testing.TB, allowPrivate bool) *fixture {
	t.Helper()
	db := storetest.Open(t, sqlstore.SQLite)
	as := sqlstore.NewAuthStore(db)
	for _, id := range []string{tenant, "tenant-b"} {
		if err := as.CreateTenant(t.Context(), auth.Tenant{ID: id, Name: id, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{db: db, creds: &fakeCreds{m: map[string]string{}}}
	f.svc = upstream.New(sqlstore.NewUpstreamStore(db), f.creds, &netguard.Guard{AllowPrivate: allowPrivate}, f, nil)
	// Trust the test servers' certificate (httptest's, shared by all).
	probe := httptest.NewTLSServer(http.NotFoundHandler())
	f.svc.TLSConfig = probe.Client().Transport.(*http.Transport).TLSClientConfig
	probe.Close()
	f.svc.Events = f
	f.svc.OnChange = func(string) { f.changed.Add(1) }
	if err := f.svc.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.svc.Close() })
	return f
}

func (f *fixture) Append(_ context.Context, rec audit.Record) (audit.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, rec)
	return rec, nil
}

func (f *fixture) Emit(_ context.Context, tenantID, name string, data any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(data)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	f.events = append(f.events, event{tenantID, name, m})
	return nil
}

// ops returns the op of every control-plane record so far.
func (f *fixture) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.records {
		var d struct {
			Op string `json:"op"`
		}
		_ = json.Unmarshal(r.Detail, &d)
		out = append(out, d.Op)
	}
	return out
}

func (f *fixture) eventsNamed(name string) []event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []event
	for _, e := range f.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

// tool returns the tenant's governed tool of that name, or nil.
func (f *fixture) tool(t *testing.T, name string) *tools.Tool { return f.toolTB(t, name) }

func (f *fixture) toolTB(t testing.TB, name string) *tools.Tool {
	t.Helper()
	ts, err := f.svc.Tools(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// call runs a governed tool's connector as the governor would.
func (f *fixture) call(ctx context.Context, t *testing.T, tool *tools.Tool, args string) (tools.Result, error) {
	t.Helper()
	return f.callTB(ctx, tool, args)
}

func (f *fixture) callTB(ctx context.Context, tool *tools.Tool, args string) (tools.Result, error) {
	c := &tools.Call{TenantID: tenant, AgentID: "agent-1", ActionID: "act-" + strconv.FormatInt(time.Now().UnixNano(), 10), Tool: tool.Name, Args: json.RawMessage(args)}
	if err := tool.Validate(c); err != nil {
		return tools.Result{}, err
	}
	return tool.Connector.Call(ctx, c)
}

// fakeCreds is a vault of api_key values by tool ID.
type fakeCreds struct {
	mu   sync.Mutex
	m    map[string]string
	uses []vault.Purpose
}

func (c *fakeCreds) put(toolID, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[toolID] = value
}

func (c *fakeCreds) Use(_ context.Context, tenantID, toolID, _ string, p vault.Purpose) (vault.Secret, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[toolID]
	if !ok || tenantID != tenant {
		return vault.Secret{}, vargate.NotFound("credential")
	}
	// The vault's binding: an http: credential goes only to its host.
	if h, isHost := strings.CutPrefix(toolID, vault.HostToolPrefix); isHost && h != p.Host {
		return vault.Secret{}, vargate.Errorf(vargate.KindForbidden, "credential %s is never sent to %q", toolID, p.Host)
	}
	c.uses = append(c.uses, p)
	return vault.EnvSecret(toolID, vault.TypeAPIKey, "TEST", v), nil
}

func (c *fakeCreds) purposes() []vault.Purpose {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]vault.Purpose(nil), c.uses...)
}

// goServer is a small MCP server of ours: a tool whose description the
// test changes mid-run, a slow tool, a tool that waits for cancellation,
// a tool that echoes the Authorization header, over Streamable HTTP
// behind a bearer check.
type goServer struct {
	URL       string
	close     func()
	srv       *mcp.Server
	token     string
	waiting   chan struct{} // the wait tool has started
	cancelled chan struct{}
	calls     atomic.Int32
}

type greetIn struct {
	Name string `json:"name" jsonschema:"who to greet"`
}

type empty struct{}

func newGoServer(t *testing.T, token string) *goServer {
	t.Helper()
	g := &goServer{token: token, waiting: make(chan struct{}, 1), cancelled: make(chan struct{}, 1)}
	g.srv = mcp.NewServer(&mcp.Implementation{Name: "test-upstream", Version: "1"}, nil)
	g.setGreet("Greets a person by name.")
	mcp.AddTool(g.srv, &mcp.Tool{Name: "slow", Description: "Answers after ten seconds."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Second):
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "late"}}}, nil, nil
		})
	mcp.AddTool(g.srv, &mcp.Tool{Name: "wait", Description: "Waits until cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
			g.waiting <- struct{}{}
			<-ctx.Done()
			g.cancelled <- struct{}{}
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(g.srv, &mcp.Tool{Name: "whoami", Description: "Tells what credential it was sent.", Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, req *mcp.CallToolRequest, _ empty) (*mcp.CallToolResult, any, error) {
			h := req.Extra.Header.Get("Authorization")
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you sent " + h}}}, map[string]any{"authorization": h}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return g.srv }, nil)
	// https: a credential is never sent over plain http.
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.token != "" && r.Header.Get("Authorization") != "Bearer "+g.token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	g.URL = ts.URL
	g.close = func() { ts.CloseClientConnections(); ts.Close() }
	return g
}

// setGreet (re)defines greet with a description; connected clients get
// notifications/tools/list_changed.
func (g *goServer) setGreet(desc string) {
	mcp.AddTool(g.srv, &mcp.Tool{Name: "greet", Description: desc},
		func(_ context.Context, _ *mcp.CallToolRequest, in greetIn) (*mcp.CallToolResult, any, error) {
			g.calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello " + in.Name}}}, nil, nil
		})
}

// nodeDir holds the npm MCP servers (package.json and package-lock.json
// are committed, node_modules is not; .ci/run installs it).
const nodeDir = "testdata/node"

// needNode returns node and the installed packages' directory, installing
// them on first use. Without Node the test is skipped, except under CI.
func needNode(t *testing.T) (node, modules string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the npm MCP servers")
	}
	node, err := exec.LookPath("node")
	var npm string
	if err == nil {
		npm, err = exec.LookPath("npm")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Node.js is required under CI: %v", err)
		}
		t.Skipf("Node.js not installed: %v", err)
	}
	modules, _ = filepath.Abs(filepath.Join(nodeDir, "node_modules"))
	if _, err := os.Stat(filepath.Join(modules, "@modelcontextprotocol", "server-filesystem")); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = nodeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return node, modules
}

// everythingHTTP starts @modelcontextprotocol/server-everything over
// Streamable HTTP on a free loopback port and returns its endpoint.
func everythingHTTP(t *testing.T) string {
	t.Helper()
	node, modules := needNode(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()
	cmd := exec.Command(node, filepath.Join(modules, "@modelcontextprotocol", "server-everything", "dist", "index.js"), "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testwait.For(t, 10*time.Second, "server-everything to listen", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	return "http://127.0.0.1:" + port + "/mcp"
}

func errorsAs(err error, target **vargate.Error) bool { return errors.As(err, target) }

// mcpTool makes a trivial tool definition.
type mcpTool struct{ name string }

func (m *mcpTool) tool() *mcp.Tool {
	return &mcp.Tool{Name: m.name, Description: "A tool added mid-run.", InputSchema: map[string]any{"type": "object"}}
}

// closeServer stops a goServer's listener and its connections.
func closeServer(g *goServer) { g.close() }
