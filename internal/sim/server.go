package sim

import (
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vargate/vargate"
)

// Defaults for Options fields left zero.
const (
	DefaultStepDelay         = 50 * time.Millisecond
	DefaultHeartbeatInterval = 15 * time.Second
	DefaultMCPTimeout        = 30 * time.Second
)

// BetaHeader is the anthropic-beta value every Managed Agents request must
// carry; without it the API answers 404 not_found_error.
const BetaHeader = "managed-agents-2026-04-01"

// Log attribute keys.
const (
	logSession  = "session_id"
	logScenario = "scenario"
	logTool     = "tool"
	logServer   = "mcp_server"
	logErr      = "err"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// APIKey is the only key accepted (as x-api-key or Authorization:
	// Bearer). Empty means any non-empty key is accepted.
	APIKey string
	// Scenarios are registered next to the built-in ones (a scenario with a
	// built-in's name replaces it).
	Scenarios []Scenario
	// DefaultScenario names the scenario of sessions that choose none.
	// Empty means DefaultScenarioName.
	DefaultScenario string
	// StepDelay is the pause between two steps of the scripted agent. Zero
	// means DefaultStepDelay; negative means no pause.
	StepDelay time.Duration
	// TimeScale multiplies the durations written in scenarios (wait, delay,
	// reschedule, retry periods). Zero means 1; tests use e.g. 0.01.
	TimeScale float64
	// HeartbeatInterval is the period of ping frames on event streams. Zero
	// means DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// MCPTimeout bounds one MCP tool call. Zero means DefaultMCPTimeout.
	MCPTimeout time.Duration
	// HTTPClient makes the MCP calls. Nil means a client with no timeout of
	// its own (MCPTimeout applies).
	HTTPClient *http.Client
	// Clock stamps resources and events. Nil means time.Now.
	Clock vargate.Clock
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
}

// Server is an in-memory Managed Agents API. It is an http.Handler; use it
// with httptest.NewServer in tests or an http.Server (vargate sim). Close
// stops its sessions' runners and closes open event streams.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	// ctx lives until Close; every session's context derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // session runners

	mu           sync.Mutex
	closed       bool
	seq          int64
	scenarios    map[string]Scenario
	agents       *collection[*agent]
	environments *collection[*environment]
	vaults       *collection[*vault]
	credentials  *collection[*credential]
	sessions     *collection[*session]
}

// New returns a Server with the built-in scenarios and opts.Scenarios
// registered. It fails if a scenario is invalid or the default scenario is
// not registered.
func New(opts Options) (*Server, error) {
	opts.DefaultScenario = cmp.Or(opts.DefaultScenario, DefaultScenarioName)
	if opts.StepDelay == 0 {
		opts.StepDelay = DefaultStepDelay
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("new simulator: TimeScale must not be negative")
	}
	opts.HeartbeatInterval = cmp.Or(opts.HeartbeatInterval, DefaultHeartbeatInterval)
	opts.MCPTimeout = cmp.Or(opts.MCPTimeout, DefaultMCPTimeout)
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts: opts, log: log, ctx: ctx, cancel: cancel,
		scenarios:    map[string]Scenario{},
		agents:       newCollection[*agent]("Agent"),
		environments: newCollection[*environment]("Environment"),
		vaults:       newCollection[*vault]("Vault"),
		credentials:  newCollection[*credential]("Credential"),
		sessions:     newCollection[*session]("Session"),
	}
	for _, sc := range append(BuiltinScenarios(), opts.Scenarios...) {
		if err := s.RegisterScenario(sc); err != nil {
			cancel()
			return nil, fmt.Errorf("new simulator: %w", err)
		}
	}
	if _, ok := s.scenarios[opts.DefaultScenario]; !ok {
		cancel()
		return nil, fmt.Errorf("new simulator: default scenario %q is not registered", opts.DefaultScenario)
	}
	s.mux = s.routes()
	return s, nil
}

// RegisterScenario adds sc, or replaces the scenario of the same name.
// Sessions that already play a scenario keep the version they started with.
func (s *Server) RegisterScenario(sc Scenario) error {
	if err := sc.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scenarios[sc.Name] = sc
	return nil
}

// ScenarioNames returns the names of the registered scenarios, sorted.
func (s *Server) ScenarioNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenarioNamesLocked()
}

// Close stops every session runner, closes open event streams and waits for
// the runners to return. Requests after Close get 529 overloaded_error.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, sess := range s.sessions.items {
		s.closeStreams(sess)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// ServeHTTP checks the headers the real API requires, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("request-id", newID(prefixRequest))
	if err := s.checkHeaders(r); err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		writeError(w, unavailable("The simulator is shutting down."))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// checkHeaders enforces the API key, anthropic-version and the beta header,
// in that order.
func (s *Server) checkHeaders(r *http.Request) error {
	key := r.Header.Get("x-api-key")
	if key == "" {
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			key = strings.TrimSpace(v)
		}
	}
	if key == "" {
		return unauthenticated("x-api-key header is required")
	}
	if s.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.APIKey)) != 1 {
		return unauthenticated("invalid x-api-key")
	}
	if r.Header.Get("anthropic-version") == "" {
		return invalid("anthropic-version: header is required")
	}
	for _, v := range r.Header.Values("anthropic-beta") {
		for b := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(b) == BetaHeader {
				return nil
			}
		}
	}
	return notFound("Not found. The Managed Agents API requires the header anthropic-beta: %s", BetaHeader)
}

// handle adapts a handler that returns a value to encode as JSON.
func handle(h func(http.ResponseWriter, *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// now returns the current time, in UTC and truncated to microseconds like
// the real API's timestamps.
func (s *Server) now() time.Time { return s.opts.Clock().UTC().Truncate(time.Microsecond) }

// nextSeq returns the next creation-order number; the caller holds s.mu.
func (s *Server) nextSeq() int64 {
	s.seq++
	return s.seq
}

// scale converts a scenario duration to real time.
func (s *Server) scale(d Duration) time.Duration {
	return time.Duration(float64(d) * s.opts.TimeScale)
}
