package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/sim"
)

// testKey is the API key tests use.
const testKey = "sk-ant-test"

// waitTimeout bounds a wait so that a broken simulator fails the test
// instead of hanging it; it is far above what any step needs.
const waitTimeout = 20 * time.Second

// fixture is a simulator served over HTTP with an SDK client pointed at it.
type fixture struct {
	sim    *sim.Server
	url    string
	client anthropic.Client
}

// newFixture starts a simulator with fast steps (1ms) unless opts says
// otherwise.
func newFixture(t *testing.T, opts sim.Options) *fixture {
	t.Helper()
	if opts.StepDelay == 0 {
		opts.StepDelay = time.Millisecond
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 0.01
	}
	s, err := sim.New(opts)
	if err != nil {
		t.Fatalf("sim.New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ts.Close()
	})
	return &fixture{sim: s, url: ts.URL, client: newClient(ts.URL, testKey)}
}

func newClient(url, key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(url), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// builtinToolset is the agent toolset with its defaults.
func builtinToolset() anthropic.BetaAgentNewParamsToolUnion {
	return anthropic.BetaAgentNewParamsToolUnion{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{}}
}

// mcpToolset is an MCP toolset for server; allow sets always_allow,
// otherwise the MCP default (always_ask) applies.
func mcpToolset(server string, allow bool) anthropic.BetaAgentNewParamsToolUnion {
	ts := &anthropic.BetaManagedAgentsMCPToolsetParams{MCPServerName: server}
	if allow {
		ts.DefaultConfig = anthropic.BetaManagedAgentsMCPToolsetDefaultConfigParams{
			PermissionPolicy: anthropic.BetaManagedAgentsMCPToolsetDefaultConfigParamsPermissionPolicyUnion{
				OfAlwaysAllow: &anthropic.BetaManagedAgentsAlwaysAllowPolicyParam{},
			},
		}
	}
	return anthropic.BetaAgentNewParamsToolUnion{OfMCPToolset: ts}
}

// newAgent creates an agent with the built-in toolset and, when mcpURL is
// set, an MCP server "vargate-governance" at mcpURL.
func (f *fixture) newAgent(t *testing.T, mcpURL string, allowMCP bool) *anthropic.BetaManagedAgentsAgent {
	t.Helper()
	p := anthropic.BetaAgentNewParams{
		Name:   "research-agent",
		Model:  anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		System: anthropic.String("You are governed by Vargate."),
		Tools:  []anthropic.BetaAgentNewParamsToolUnion{builtinToolset()},
	}
	if mcpURL != "" {
		p.MCPServers = []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "vargate-governance", URL: mcpURL}}
		p.Tools = append(p.Tools, mcpToolset("vargate-governance", allowMCP))
	}
	a, err := f.client.Beta.Agents.New(t.Context(), p)
	if err != nil {
		t.Fatalf("create agent: %v", err)
	}
	return a
}

func (f *fixture) newEnvironment(t *testing.T, name string) *anthropic.BetaEnvironment {
	t.Helper()
	env, err := f.client.Beta.Environments.New(t.Context(), anthropic.BetaEnvironmentNewParams{Name: name})
	if err != nil {
		t.Fatalf("create environment: %v", err)
	}
	return env
}

// newVault creates a vault with a static_bearer credential for url.
func (f *fixture) newVault(t *testing.T, url, token string) *anthropic.BetaManagedAgentsVault {
	t.Helper()
	v, err := f.client.Beta.Vaults.New(t.Context(), anthropic.BetaVaultNewParams{DisplayName: "gateway"})
	if err != nil {
		t.Fatalf("create vault: %v", err)
	}
	_, err = f.client.Beta.Vaults.Credentials.New(t.Context(), v.ID, anthropic.BetaVaultCredentialNewParams{
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			MCPServerURL: url, Token: token,
		}},
	})
	if err != nil {
		t.Fatalf("create credential: %v", err)
	}
	return v
}

// newSession creates a session of agentID in a fresh environment, playing
// scenario (the default when empty).
func (f *fixture) newSession(t *testing.T, agentID, scenario string, vaultIDs ...string) *anthropic.BetaManagedAgentsSession {
	t.Helper()
	env := f.newEnvironment(t, "env-"+t.Name()+"-"+time.Now().Format("150405.000000000"))
	p := anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(agentID)},
		EnvironmentID: env.ID,
		VaultIDs:      vaultIDs,
	}
	if scenario != "" {
		p.Metadata = map[string]string{sim.MetadataScenarioKey: scenario}
	}
	s, err := f.client.Beta.Sessions.New(t.Context(), p)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s
}

func userMessage(text string) anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserMessage: &anthropic.BetaManagedAgentsUserMessageEventParams{
		Content: []anthropic.BetaManagedAgentsUserMessageEventParamsContentUnion{{OfText: &anthropic.BetaManagedAgentsTextBlockParam{Text: text}}},
	}}
}

func interrupt() anthropic.BetaManagedAgentsEventParamsUnion {
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserInterrupt: &anthropic.BetaManagedAgentsUserInterruptEventParams{}}
}

func confirmation(toolUseID string, allow bool, denyMessage string) anthropic.BetaManagedAgentsEventParamsUnion {
	p := &anthropic.BetaManagedAgentsUserToolConfirmationEventParams{ToolUseID: toolUseID, Result: "allow"}
	if !allow {
		p.Result = "deny"
		if denyMessage != "" {
			p.DenyMessage = anthropic.String(denyMessage)
		}
	}
	return anthropic.BetaManagedAgentsEventParamsUnion{OfUserToolConfirmation: p}
}

func (f *fixture) send(t *testing.T, sessionID string, events ...anthropic.BetaManagedAgentsEventParamsUnion) {
	t.Helper()
	if _, err := f.client.Beta.Sessions.Events.Send(t.Context(), sessionID, anthropic.BetaSessionEventSendParams{Events: events}); err != nil {
		t.Fatalf("send events: %v", err)
	}
}

// stream is an open event stream read by a goroutine into a list.
type stream struct {
	st   *ssestream.Stream[anthropic.BetaManagedAgentsStreamSessionEventsUnion]
	mu   sync.Mutex
	evs  []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	more chan struct{}
	done chan struct{}
	err  error
}

// openStream opens the session's event stream; it is closed at cleanup.
// The SDK returns once the response headers arrive, so events emitted after
// openStream returns are delivered.
func (f *fixture) openStream(t *testing.T, sessionID string, params anthropic.BetaSessionEventStreamParams) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	st := f.client.Beta.Sessions.Events.StreamEvents(ctx, sessionID, params)
	if err := st.Err(); err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	s := &stream{st: st, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for st.Next() {
			s.mu.Lock()
			s.evs = append(s.evs, st.Current())
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
		s.mu.Lock()
		s.err = st.Err()
		s.mu.Unlock()
	}()
	t.Cleanup(func() {
		cancel()
		st.Close()
		<-s.done
	})
	return s
}

// events returns what the stream has delivered so far.
func (s *stream) events() []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.evs)
}

// waitFor waits until cond holds for the delivered events; it fails the
// test if the stream ends first.
func (s *stream) waitFor(t *testing.T, what string, cond func([]anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		evs := s.events()
		if cond(evs) {
			return evs
		}
		select {
		case <-s.more:
		case <-s.done:
			if evs := s.events(); cond(evs) {
				return evs
			}
			t.Fatalf("stream ended (err %v) before %s; got %v", s.err, what, types(s.events()))
		case <-timeout:
			t.Fatalf("no %s on the stream; got %v", what, types(s.events()))
		}
	}
}

// waitIdle waits for the n-th session.status_idle event on the stream.
func (s *stream) waitIdle(t *testing.T, n int) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	t.Helper()
	return s.waitFor(t, "idle event", func(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion) bool {
		return count(evs, "session.status_idle") >= n
	})
}

// waitEnd waits until the stream is closed by the server.
func (s *stream) waitEnd(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Fatalf("stream still open; got %v", types(s.events()))
	}
}

func types[E any](evs []E) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		switch e := any(e).(type) {
		case anthropic.BetaManagedAgentsStreamSessionEventsUnion:
			out = append(out, e.Type)
		case anthropic.BetaManagedAgentsSessionEventUnion:
			out = append(out, e.Type)
		case sim.Event:
			out = append(out, e.Type)
		}
	}
	return out
}

func count(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// ofType returns the events of one type.
func ofType(evs []anthropic.BetaManagedAgentsStreamSessionEventsUnion, typ string) []anthropic.BetaManagedAgentsStreamSessionEventsUnion {
	var out []anthropic.BetaManagedAgentsStreamSessionEventsUnion
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// apiError asserts that err is an SDK API error and returns it.
func apiError(t *testing.T, err error) *anthropic.Error {
	t.Helper()
	var ae *anthropic.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *anthropic.Error", err, err)
	}
	return ae
}

// mcpServer is a real MCP server (go-sdk, Streamable HTTP) with the tools
// the default scenario uses. It records the Authorization header of every
// tools/call.
type mcpServer struct {
	URL string
	mu  sync.Mutex
	// calls holds "tool|Authorization header" per tool call.
	calls []mcpCall
}

type mcpCall struct {
	Tool          string
	Authorization string
	Args          map[string]any
}

func newMCPServer(t *testing.T) *mcpServer { return newMCPServerWithToken(t, "") }

// newMCPServerWithToken is newMCPServer that answers 401 unless the request
// carries "Bearer token" (when token is not empty).
func newMCPServerWithToken(t *testing.T, token string) *mcpServer {
	t.Helper()
	m := &mcpServer{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "test-gateway", Version: "1"}, nil)
	for _, name := range []string{"vargate_web_search", "vargate_send_email", "lookup"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				var args map[string]any
				_ = json.Unmarshal(req.Params.Arguments, &args)
				m.mu.Lock()
				m.calls = append(m.calls, mcpCall{Tool: name, Authorization: req.Extra.Header.Get("Authorization"), Args: args})
				m.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "result of " + name}}}, nil
			})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	mux := http.NewServeMux()
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	m.URL = ts.URL + "/mcp"
	return m
}

func (m *mcpServer) Calls() []mcpCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}
