package upstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

// DefaultRefreshInterval is how often a connected upstream's tool list is
// read again when Service.RefreshInterval is zero (besides on connect and
// on the server's notifications/tools/list_changed).
const DefaultRefreshInterval = time.Minute

// EventToolChanged is the webhook event of an upstream tool whose
// definition differs from its pin (or that is new, or gone).
const EventToolChanged = "tool.changed"

// Auditor appends to the audit trail (audit.Log).
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// Emitter writes a webhook event to the outbox (webhook.Service).
type Emitter interface {
	Emit(ctx context.Context, tenantID, event string, data any) error
}

// Service keeps the tenants' upstreams, their pooled sessions and pins,
// and serves their approved tools to the catalog (it is a tools.Source).
// Set the fields (New fills the defaults), call Open, and Close at the end.
type Service struct {
	Store       Store
	Credentials tools.Credentials
	// Guard checks every address an HTTP upstream is reached at; nil
	// refuses non-public addresses.
	Guard *netguard.Guard
	Audit Auditor
	// Events receives tool.changed; nil: no webhooks.
	Events Emitter
	// AllowStdio lets admins declare stdio commands that the gateway runs
	// (self-hosted deployments only: the command runs as the gateway).
	AllowStdio bool
	// OnChange is told when a tenant's set of upstream tools changed (the
	// catalog's Invalidate).
	OnChange func(tenantID string)
	// TLSConfig, if set, is the TLS configuration of HTTP upstreams (a
	// private CA's roots, or a test server's); nil is Go's default.
	TLSConfig       *tls.Config
	RefreshInterval time.Duration
	Logger          *slog.Logger
	Now             vargate.Clock

	mu     sync.Mutex
	conns  map[key]*conn
	closed bool // after Close: no new sessions

	smu   sync.Mutex
	scrub map[key][][]byte

	tonce sync.Once
	trans http.RoundTripper

	stop context.CancelFunc
	done chan struct{}
}

var _ tools.Source = (*Service)(nil)

// New returns a Service with defaults filled in.
func New(store Store, creds tools.Credentials, guard *netguard.Guard, auditor Auditor, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		Store: store, Credentials: creds, Guard: guard, Audit: auditor, Logger: logger,
		Now:             func() time.Time { return time.Now().UTC() },
		RefreshInterval: DefaultRefreshInterval,
	}
}

// Log attribute keys.
const (
	logKeyTenant   = "tenant_id"
	logKeyUpstream = "upstream"
	logKeyTool     = "tool"
	logKeyError    = "error"
)

// Open starts the periodic refresh of connected upstreams.
func (s *Service) Open() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	every := vargate.OrDefault(s.RefreshInterval, DefaultRefreshInterval)
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, c := range s.connected() {
					s.refreshConn(ctx, c)
				}
			}
		}
	}()
	return nil
}

// Close stops the refresh and ends every session (stdio commands exit).
func (s *Service) Close() error {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	return nil
}

func (s *Service) transport() http.RoundTripper {
	s.tonce.Do(func() {
		g := s.Guard
		if g == nil {
			g = &netguard.Guard{}
		}
		t := g.Transport()
		t.TLSClientConfig = s.TLSConfig
		s.trans = t
	})
	return s.trans
}

func (s *Service) sdkLogger() *slog.Logger { return s.Logger }

// use releases the upstream's credential for one purpose.
func (s *Service) use(ctx context.Context, u Upstream, p vault.Purpose) (vault.Secret, error) {
	cr := u.Credential
	if s.Credentials == nil {
		return vault.Secret{}, vargate.Errorf(vargate.KindUnavailable, "the vault is not available")
	}
	// The vault releases the value only to where its tool ID binds it:
	// the HTTP upstream's host, or this stdio upstream's command.
	if u.Stdio() {
		p.Connector = u.CredentialToolID()
	} else if pu, err := url.Parse(u.URL); err == nil {
		p.Host = pu.Hostname()
	}
	sec, err := s.Credentials.Use(ctx, u.TenantID, cr.ToolID, cr.Name, p)
	if vargate.IsKind(err, vargate.KindNotFound) {
		return vault.Secret{}, vargate.Invalid("credential.tool_id",
			"no credential is registered for upstream %s: register one with tool_id %q", u.Name, cr.ToolID)
	}
	return sec, err
}

// pooled returns the pooled session of u, made for u's current
// configuration (a changed configuration ends the old session).
func (s *Service) pooled(u Upstream) *conn {
	k := key{u.TenantID, u.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[k]
	if c != nil {
		if sameConfig(c.cfg, u) && !c.isClosed() {
			return c
		}
		go c.close()
	}
	c = &conn{svc: s, key: k, cfg: u, health: Health{State: StateDisconnected}, notified: map[string]string{}}
	if s.closed {
		c.closed = true // shutting down: nothing connects any more
		return c
	}
	if s.conns == nil {
		s.conns = map[key]*conn{}
	}
	s.conns[k] = c
	return c
}

func (s *Service) peek(k key) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[k]
}

func (s *Service) forget(k key) {
	s.mu.Lock()
	c := s.conns[k]
	delete(s.conns, k)
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	s.smu.Lock()
	delete(s.scrub, k)
	s.smu.Unlock()
}

// forgetOthers ends the sessions of the tenant's upstreams that are no
// longer stored (removed through another gateway).
func (s *Service) forgetOthers(tenantID string, ups []Upstream) {
	keep := map[string]bool{}
	for _, u := range ups {
		keep[u.Name] = true
	}
	var gone []key
	s.mu.Lock()
	for k := range s.conns {
		if k.tenant == tenantID && !keep[k.name] {
			gone = append(gone, k)
		}
	}
	s.mu.Unlock()
	for _, k := range gone {
		s.forget(k)
	}
}

func (s *Service) connected() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for _, c := range s.conns {
		if c.Health().State == StateConnected {
			out = append(out, c)
		}
	}
	return out
}

// addScrub remembers a credential value of an upstream, to be removed
// from its results.
func (s *Service) addScrub(k key, secret []byte) {
	if len(secret) < 4 {
		return
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.scrub == nil {
		s.scrub = map[key][][]byte{}
	}
	l := s.scrub[k]
	for _, v := range l {
		if string(v) == string(secret) {
			return
		}
	}
	if len(l) >= 8 {
		l = l[1:]
	}
	s.scrub[k] = append(l, secret)
}

func (s *Service) scrubs(k key) [][]byte {
	s.smu.Lock()
	defer s.smu.Unlock()
	return append([][]byte(nil), s.scrub[k]...)
}

// list reads the upstream's tools, skipping (and logging) those the
// gateway cannot serve.
func (s *Service) list(ctx context.Context, c *conn) (map[string]live, error) {
	cs, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]live{}
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			c.drop(cs, err)
			return nil, vargate.Wrap(vargate.KindUnavailable, err, "upstream %s: tools/list failed", c.key.name)
		}
		l, err := definitionOf(c.key.name, t)
		if err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelWarn, "upstream tool left out",
				slog.String(logKeyTenant, c.key.tenant), slog.String(logKeyUpstream, c.key.name), slog.String(logKeyError, err.Error()))
			continue
		}
		out[t.Name] = l
	}
	now := s.Now()
	c.hmu.Lock()
	changed := !sameDigests(c.tools, out)
	c.tools = out
	c.health.ListedAt = &now
	c.hmu.Unlock()
	if changed && s.OnChange != nil {
		s.OnChange(c.key.tenant)
	}
	return out, nil
}

func sameDigests(a, b map[string]live) bool {
	if a == nil || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w.digest != v.digest {
			return false
		}
	}
	return true
}

func (s *Service) refreshKey(k key) {
	if c := s.peek(k); c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.cfg.Timeouts.Connect())
		defer cancel()
		s.refreshConn(ctx, c)
	}
}

// refreshConn lists an upstream's tools and reports changes against its
// pins; failures are logged (the health shows them).
func (s *Service) refreshConn(ctx context.Context, c *conn) {
	if _, err := s.check(ctx, c); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelWarn, "cannot refresh upstream tools",
			slog.String(logKeyTenant, c.key.tenant), slog.String(logKeyUpstream, c.key.name), slog.String(logKeyError, err.Error()))
	}
}

// check lists the upstream's tools, compares them with the pins, and
// reports each new difference once (audit record and tool.changed).
func (s *Service) check(ctx context.Context, c *conn) ([]Change, error) {
	lv, err := s.list(ctx, c)
	if err != nil {
		return nil, err
	}
	pins, err := s.pinsOf(ctx, c.key.tenant, c.key.name)
	if err != nil {
		return nil, err
	}
	changes := diff(pins, lv)
	c.hmu.Lock()
	var fresh []Change
	seen := map[string]bool{}
	for _, ch := range changes {
		seen[ch.Tool] = true
		mark := ch.Kind + ":" + ch.CurrentDigest
		if c.notified[ch.Tool] != mark {
			c.notified[ch.Tool] = mark
			fresh = append(fresh, ch)
		}
	}
	for t := range c.notified {
		if !seen[t] {
			delete(c.notified, t)
		}
	}
	c.hmu.Unlock()
	for _, ch := range fresh {
		s.report(ctx, c.key, ch)
	}
	return changes, nil
}

// report records a definition change and emits tool.changed. The record
// outlives a caller that gives up.
func (s *Service) report(ctx context.Context, k key, ch Change) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	data := map[string]any{
		"upstream": k.name, "tool": ch.Tool, "name": k.name + Separator + ch.Tool, "change": ch.Kind,
		"pinned_digest": ch.PinnedDigest, "current_digest": ch.CurrentDigest,
	}
	if err := s.audit(ctx, k.tenant, audit.ActorSystem, "upstream.tool_changed", k.name+Separator+ch.Tool, data); err != nil {
		s.Logger.LogAttrs(ctx, slog.LevelError, "cannot audit upstream tool change",
			slog.String(logKeyTenant, k.tenant), slog.String(logKeyUpstream, k.name), slog.String(logKeyError, err.Error()))
	}
	if s.Events != nil {
		if err := s.Events.Emit(ctx, k.tenant, EventToolChanged, data); err != nil {
			s.Logger.LogAttrs(ctx, slog.LevelError, "cannot emit webhook",
				slog.String(logKeyTenant, k.tenant), slog.String(logKeyUpstream, k.name), slog.String(logKeyError, err.Error()))
		}
	}
}

func (s *Service) pinsOf(ctx context.Context, tenantID, name string) ([]Pin, error) {
	all, err := s.Store.Pins(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	var out []Pin
	for _, p := range all {
		if p.Upstream == name {
			out = append(out, p)
		}
	}
	return out, nil
}

// audit records a control-plane change of an upstream.
func (s *Service) audit(ctx context.Context, tenantID, actor, op, tool string, detail map[string]any) error {
	if s.Audit == nil {
		return nil
	}
	d := map[string]any{"op": op}
	for k, v := range detail {
		d[k] = v
	}
	audit.AddActorName(ctx, actor, d)
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("audit %s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.Audit.Append(ctx, audit.Record{
		TenantID: tenantID, Source: audit.SourceControlPlane, Decision: op, Tool: tool, Actor: actor, Detail: b,
	}); err != nil {
		return fmt.Errorf("audit %s: %w", op, err)
	}
	return nil
}

// sortedNames returns the keys of m in order.
func sortedNames(m map[string]live) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
