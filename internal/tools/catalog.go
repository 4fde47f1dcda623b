package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/cache"
)

// DefaultSetTTL is how long a tenant's tool set is used before it is
// reloaded from the store, when Catalog.TTL is zero. Changes made through
// this gateway's Catalog take effect at once; the TTL bounds how long
// another gateway process sharing the database serves an old set.
const DefaultSetTTL = 15 * time.Second

// Store persists tenant tool definitions.
type Store interface {
	// CreateTenantTool stores a definition; KindConflict if the tenant
	// already has a tool of that name.
	CreateTenantTool(ctx context.Context, t TenantTool) error
	// TenantTools returns the tenant's definitions ordered by name.
	TenantTools(ctx context.Context, tenantID string) ([]TenantTool, error)
	// TenantTool returns one definition; KindNotFound if there is none.
	TenantTool(ctx context.Context, tenantID, name string) (TenantTool, error)
	// DeleteTenantTool removes a definition; KindNotFound if there is none.
	DeleteTenantTool(ctx context.Context, tenantID, name string) error
}

// Source adds tools to a tenant's set: the tools of the tenant's upstream
// MCP servers (internal/upstream). Tools must be cheap to call (it runs
// on every reload of a set) and must not name a built-in.
type Source interface {
	Tools(ctx context.Context, tenantID string) ([]*Tool, error)
}

// Catalog is every tenant's set of governed tools: the built-ins, the
// same for all, the tenant's own HTTP tools and the tools of its Sources. Sets are cached per
// tenant; Set is cheap enough to call on every request.
type Catalog struct {
	// Store holds tenant tools; nil means built-ins only.
	Store Store
	// Runner executes tenant tools.
	Runner *HTTPRunner
	// Sources add tools from elsewhere (upstream MCP servers); a name
	// already taken is skipped.
	Sources []Source
	// Audit records tool definition changes (control_plane); nil: none.
	Audit  Auditor
	TTL    time.Duration
	Now    vargate.Clock
	Logger *slog.Logger

	builtins []*Tool
	// sets maps a tenant ID to its set. Its entries do not expire: Set
	// checks their age itself and serves an old set while a reload fails.
	sets cache.Cache[string, *cachedSet]
}

type cachedSet struct {
	set    *Set
	loaded time.Time
}

// Set is one tenant's tools at one moment. It is immutable: a change
// makes a new Set, so a Set's identity says whether anything changed.
type Set struct {
	TenantID string
	// Tools lists the built-ins, in the order added, then the tenant's
	// tools by name.
	Tools  []*Tool
	byName map[string]*Tool
}

// Lookup returns the tool of that name.
func (s *Set) Lookup(name string) (*Tool, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// NewCatalog returns a catalog of the given built-in tools.
func NewCatalog(builtins ...*Tool) *Catalog {
	return &Catalog{
		builtins: builtins,
		Now:      func() time.Time { return time.Now().UTC() },
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// Add adds a built-in tool (before the catalog is used).
func (c *Catalog) Add(t *Tool) { c.builtins = append(c.builtins, t) }

// Builtins returns the built-in tools.
func (c *Catalog) Builtins() []*Tool { return c.builtins }

func (c *Catalog) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultSetTTL
}

// Set returns the tenant's current tool set.
func (c *Catalog) Set(ctx context.Context, tenantID string) (*Set, error) {
	now := c.Now()
	cs, _ := c.sets.Get(tenantID, now)
	if cs != nil && now.Sub(cs.loaded) < c.ttl() {
		return cs.set, nil
	}
	s, err := c.load(ctx, tenantID)
	if err != nil {
		if cs != nil {
			// Serve the previous set rather than fail every call while the
			// database is briefly away; try again on the next call.
			c.Logger.LogAttrs(ctx, slog.LevelWarn, "cannot reload tenant tools; using the cached set",
				slog.String(logKeyTenant, tenantID), slog.String(logKeyError, err.Error()))
			return cs.set, nil
		}
		return nil, err
	}
	if cs != nil && sameTools(cs.set, s) {
		s = cs.set // keep the identity, so that caches keyed on it stay warm
	}
	c.sets.Add(tenantID, &cachedSet{set: s, loaded: now}, time.Time{})
	return s, nil
}

// Log attribute keys.
const (
	logKeyTenant = "tenant_id"
	logKeyTool   = "tool"
	logKeyError  = "error"
)

func (c *Catalog) load(ctx context.Context, tenantID string) (*Set, error) {
	s := &Set{TenantID: tenantID, Tools: append([]*Tool(nil), c.builtins...), byName: map[string]*Tool{}}
	for _, t := range c.builtins {
		s.byName[t.Name] = t
	}
	var defs []TenantTool
	if c.Store != nil {
		var err error
		if defs, err = c.Store.TenantTools(ctx, tenantID); err != nil {
			return nil, fmt.Errorf("load tools of tenant %s: %w", tenantID, err)
		}
	}
	for _, d := range defs {
		if _, dup := s.byName[d.Name]; dup {
			continue // a built-in added later took the name
		}
		t, err := newTenantTool(d, c.Runner)
		if err != nil {
			// Checked when created; a definition that no longer compiles is
			// left out rather than taking the tenant's other tools down.
			c.Logger.LogAttrs(ctx, slog.LevelError, "stored tenant tool does not compile",
				slog.String(logKeyTenant, tenantID), slog.String(logKeyTool, d.Name), slog.String(logKeyError, err.Error()))
			continue
		}
		s.Tools = append(s.Tools, t)
		s.byName[t.Name] = t
	}
	for _, src := range c.Sources {
		ts, err := src.Tools(ctx, tenantID)
		if err != nil {
			return nil, fmt.Errorf("load tools of tenant %s: %w", tenantID, err)
		}
		for _, t := range ts {
			if _, dup := s.byName[t.Name]; dup {
				continue
			}
			s.Tools = append(s.Tools, t)
			s.byName[t.Name] = t
		}
	}
	return s, nil
}

// sameTools reports whether two sets hold the same tenant tool
// definitions (built-ins never change).
func sameTools(a, b *Set) bool {
	if len(a.Tools) != len(b.Tools) {
		return false
	}
	for i := range a.Tools {
		ta, tb := a.Tools[i], b.Tools[i]
		if ta.Name != tb.Name || ta.Tenant != tb.Tenant || ta.Version != tb.Version {
			return false
		}
		if ta.Tenant {
			da, db := ta.Connector.(*TenantConnector).Def, tb.Connector.(*TenantConnector).Def
			ja, _ := json.Marshal(da)
			jb, _ := json.Marshal(db)
			if string(ja) != string(jb) {
				return false
			}
		}
	}
	return true
}

// Invalidate drops the tenant's cached set.
func (c *Catalog) Invalidate(tenantID string) {
	c.sets.Remove(tenantID)
}

// Create declares a tenant tool.
func (c *Catalog) Create(ctx context.Context, tenantID, actor string, d TenantTool) (TenantTool, error) {
	if c.Store == nil {
		return TenantTool{}, vargate.Errorf(vargate.KindUnavailable, "tenant tools are not enabled")
	}
	d.TenantID, d.CreatedBy, d.CreatedAt = tenantID, actor, c.Now().Truncate(time.Microsecond)
	if _, err := d.Check(); err != nil {
		return TenantTool{}, err
	}
	for _, b := range c.builtins {
		if b.Name == d.Name {
			return TenantTool{}, vargate.Invalid("name", "%q is a built-in tool", d.Name)
		}
	}
	existing, err := c.Store.TenantTools(ctx, tenantID)
	if err != nil {
		return TenantTool{}, err
	}
	if len(existing) >= MaxTenantTools {
		return TenantTool{}, vargate.Errorf(vargate.KindConflict, "a tenant may declare at most %d tools", MaxTenantTools)
	}
	if err := c.Store.CreateTenantTool(ctx, d); err != nil {
		if vargate.IsKind(err, vargate.KindConflict) {
			return TenantTool{}, vargate.Errorf(vargate.KindConflict, "a tool named %q already exists; delete it first", d.Name)
		}
		return TenantTool{}, err
	}
	c.Invalidate(tenantID)
	return d, c.audit(ctx, tenantID, actor, "tool.created", d)
}

// List returns the tenant's tool definitions.
func (c *Catalog) List(ctx context.Context, tenantID string) ([]TenantTool, error) {
	if c.Store == nil {
		return []TenantTool{}, nil
	}
	ts, err := c.Store.TenantTools(ctx, tenantID)
	if ts == nil && err == nil {
		ts = []TenantTool{}
	}
	return ts, err
}

// Get returns one tenant tool definition.
func (c *Catalog) Get(ctx context.Context, tenantID, name string) (TenantTool, error) {
	if c.Store == nil {
		return TenantTool{}, vargate.NotFound("tool " + name)
	}
	return c.Store.TenantTool(ctx, tenantID, name)
}

// Delete removes a tenant tool; agents stop seeing it at once on this
// gateway.
func (c *Catalog) Delete(ctx context.Context, tenantID, actor, name string) error {
	if c.Store == nil {
		return vargate.NotFound("tool " + name)
	}
	d, err := c.Store.TenantTool(ctx, tenantID, name)
	if err != nil {
		return err
	}
	if err := c.Store.DeleteTenantTool(ctx, tenantID, name); err != nil {
		return err
	}
	c.Invalidate(tenantID)
	return c.audit(ctx, tenantID, actor, "tool.deleted", d)
}

// audit records a definition change. It outlives a client that gives up:
// the change is made.
func (c *Catalog) audit(ctx context.Context, tenantID, actor, op string, d TenantTool) error {
	if c.Audit == nil {
		return nil
	}
	m := map[string]any{"op": op, "definition": d}
	audit.AddActorName(ctx, actor, m)
	detail, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("audit %s: %w", op, err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := c.Audit.Append(ctx, audit.Record{
		TenantID: tenantID, Source: audit.SourceControlPlane, Tool: d.Name, Actor: actor, Detail: detail,
	}); err != nil {
		return fmt.Errorf("audit %s: %w", op, err)
	}
	return nil
}

// Names returns the names of the tools in the set, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.Tools))
	for _, t := range s.Tools {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
