package upstream

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/vargate/vargate"
)

// View is an upstream as the API shows it: its configuration, the health
// of its session and the state of each pinned or offered tool.
type View struct {
	Upstream
	Health Health       `json:"health"`
	Tools  []ToolStatus `json:"tools"`
	// PendingChanges counts the differences waiting for an admin.
	PendingChanges int `json:"pending_changes"`
}

// ToolStatus is one tool of an upstream.
type ToolStatus struct {
	// Name is the tool as agents call it: "<upstream>__<tool>".
	Name   string `json:"name"`
	Tool   string `json:"tool"`
	Digest string `json:"digest,omitempty"`
	// Status is active (served to agents), withheld (its definition
	// changed, or it is new: an admin must approve), removed (pinned, no
	// longer served) or unverified (pinned; the upstream has not been
	// listed yet on this gateway).
	Status string `json:"status"`
}

// Tool statuses.
const (
	ToolActive     = "active"
	ToolWithheld   = "withheld"
	ToolRemoved    = "removed"
	ToolUnverified = "unverified"
)

// Patch is a change of an upstream's configuration; nil fields are kept.
type Patch struct {
	URL        *string
	Command    *[]string
	Credential **Credential // a nil *Credential removes it
	Timeouts   *Timeouts
}

// Create adds an upstream: it connects, lists the tools and pins every
// one of them as approved by actor.
func (s *Service) Create(ctx context.Context, tenantID, actor string, u Upstream) (View, error) {
	now := s.Now().Truncate(time.Microsecond)
	u.TenantID, u.CreatedBy, u.CreatedAt, u.UpdatedAt = tenantID, actor, now, now
	if err := u.Check(s.AllowStdio); err != nil {
		return View{}, err
	}
	existing, err := s.Store.Upstreams(ctx, tenantID)
	if err != nil {
		return View{}, err
	}
	for _, e := range existing {
		if e.Name == u.Name {
			return View{}, vargate.Errorf(vargate.KindConflict, "an upstream named %q already exists", u.Name)
		}
	}
	if len(existing) >= MaxUpstreams {
		return View{}, vargate.Errorf(vargate.KindConflict, "a tenant may have at most %d upstreams", MaxUpstreams)
	}
	// A session of its own until stored: nothing is pooled for a name
	// the store has not accepted.
	c := &conn{svc: s, key: key{tenantID, u.Name}, cfg: u, notified: map[string]string{}}
	lv, err := s.list(ctx, c)
	if err != nil {
		c.close()
		return View{}, unusable(u, err)
	}
	pins := make([]Pin, 0, len(lv))
	digests := map[string]string{}
	for _, name := range sortedNames(lv) {
		l := lv[name]
		pins = append(pins, Pin{TenantID: tenantID, Upstream: u.Name, Tool: name, Digest: l.digest, Definition: l.json, ApprovedAt: now, ApprovedBy: actor})
		digests[name] = l.digest
	}
	if err := s.Store.CreateUpstream(ctx, u, pins); err != nil {
		c.close()
		if vargate.IsKind(err, vargate.KindConflict) {
			return View{}, vargate.Errorf(vargate.KindConflict, "an upstream named %q already exists", u.Name)
		}
		return View{}, err
	}
	s.mu.Lock()
	if old := s.conns[c.key]; old != nil {
		go old.close()
	}
	if s.conns == nil {
		s.conns = map[key]*conn{}
	}
	s.conns[c.key] = c
	s.mu.Unlock()
	s.changed(tenantID)
	if err := s.audit(ctx, tenantID, actor, "upstream.created", u.Name, map[string]any{"upstream": redacted(u), "pins": digests}); err != nil {
		return View{}, err
	}
	return s.view(ctx, u, pins), nil
}

// unusable says why a new upstream cannot be used, naming the field at
// fault (the address, unless the error names another).
func unusable(u Upstream, err error) error {
	var ve *vargate.Error
	if errors.As(err, &ve) {
		if ve.Field != "" {
			return ve
		}
		return &vargate.Error{Kind: vargate.KindInvalid, Field: fieldOf(u), Message: ve.Message, Err: err}
	}
	return &vargate.Error{Kind: vargate.KindInvalid, Field: fieldOf(u), Message: "cannot list the upstream's tools", Err: err}
}

func fieldOf(u Upstream) string {
	if u.Stdio() {
		return "command"
	}
	return "url"
}

func (s *Service) changed(tenantID string) {
	if s.OnChange != nil {
		s.OnChange(tenantID)
	}
}

// redacted is the configuration as recorded: it names the credential,
// never holds one.
func redacted(u Upstream) Upstream { return u }

// List returns the tenant's upstreams.
func (s *Service) List(ctx context.Context, tenantID string) ([]View, error) {
	ups, err := s.Store.Upstreams(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	pins, err := s.Store.Pins(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(ups))
	for _, u := range ups {
		var mine []Pin
		for _, p := range pins {
			if p.Upstream == u.Name {
				mine = append(mine, p)
			}
		}
		out = append(out, s.view(ctx, u, mine))
	}
	return out, nil
}

// Get returns one upstream.
func (s *Service) Get(ctx context.Context, tenantID, name string) (View, error) {
	u, err := s.Store.Upstream(ctx, tenantID, name)
	if err != nil {
		return View{}, err
	}
	pins, err := s.pinsOf(ctx, tenantID, name)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, u, pins), nil
}

// view joins an upstream with its pooled session's state.
func (s *Service) view(_ context.Context, u Upstream, pins []Pin) View {
	v := View{Upstream: u, Health: Health{State: StateDisconnected}, Tools: []ToolStatus{}}
	var lv map[string]live
	if c := s.peek(key{u.TenantID, u.Name}); c != nil {
		v.Health = c.Health()
		lv = c.liveTools()
	}
	if lv == nil {
		for _, p := range pins {
			v.Tools = append(v.Tools, ToolStatus{Name: u.Name + Separator + p.Tool, Tool: p.Tool, Digest: p.Digest, Status: ToolUnverified})
		}
		return v
	}
	changes := diff(pins, lv)
	v.PendingChanges = len(changes)
	byTool := map[string]Change{}
	for _, ch := range changes {
		byTool[ch.Tool] = ch
	}
	for _, p := range pins {
		st := ToolStatus{Name: u.Name + Separator + p.Tool, Tool: p.Tool, Digest: p.Digest, Status: ToolActive}
		if ch, ok := byTool[p.Tool]; ok {
			st.Status = ToolWithheld
			if ch.Kind == ChangeRemoved {
				st.Status = ToolRemoved
			}
		}
		v.Tools = append(v.Tools, st)
	}
	for _, ch := range changes {
		if ch.Kind == ChangeAdded {
			v.Tools = append(v.Tools, ToolStatus{Name: u.Name + Separator + ch.Tool, Tool: ch.Tool, Digest: ch.CurrentDigest, Status: ToolWithheld})
		}
	}
	return v
}

// Update changes an upstream's configuration. Its pins stay: a server at
// the new address that serves other definitions has them withheld.
func (s *Service) Update(ctx context.Context, tenantID, actor, name string, p Patch) (View, error) {
	u, err := s.Store.Upstream(ctx, tenantID, name)
	if err != nil {
		return View{}, err
	}
	if p.URL != nil {
		u.URL = *p.URL
		if u.URL != "" {
			u.Command = nil
		}
	}
	if p.Command != nil {
		u.Command = *p.Command
		if len(u.Command) > 0 {
			u.URL = ""
		}
	}
	if p.Credential != nil {
		u.Credential = *p.Credential
	}
	if p.Timeouts != nil {
		u.Timeouts = *p.Timeouts
	}
	u.UpdatedAt = s.Now().Truncate(time.Microsecond)
	if err := u.Check(s.AllowStdio); err != nil {
		return View{}, err
	}
	if err := s.Store.UpdateUpstream(ctx, u); err != nil {
		return View{}, err
	}
	s.pooled(u) // ends the session made for the old configuration
	s.changed(tenantID)
	if err := s.audit(ctx, tenantID, actor, "upstream.updated", u.Name, map[string]any{"upstream": redacted(u)}); err != nil {
		return View{}, err
	}
	return s.Get(ctx, tenantID, name)
}

// Delete removes an upstream and its pins; its tools disappear at once on
// this gateway.
func (s *Service) Delete(ctx context.Context, tenantID, actor, name string) error {
	if err := s.Store.DeleteUpstream(ctx, tenantID, name); err != nil {
		return err
	}
	s.forget(key{tenantID, name})
	s.changed(tenantID)
	return s.audit(ctx, tenantID, actor, "upstream.deleted", name, map[string]any{"upstream": name})
}

// Changes lists the upstream afresh and returns how it differs from its
// pins, with both definitions, for an admin to review.
func (s *Service) Changes(ctx context.Context, tenantID, name string) ([]Change, error) {
	u, err := s.Store.Upstream(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	changes, err := s.check(ctx, s.pooled(u))
	if changes == nil && err == nil {
		changes = []Change{}
	}
	return changes, err
}

// Approve pins the upstream's current definitions. With want (tool →
// digest the admin reviewed) only those changes are approved, and only if
// the upstream still serves exactly what was reviewed; without it, every
// pending change is. It returns the approved changes.
func (s *Service) Approve(ctx context.Context, tenantID, actor, name string, want map[string]string) ([]Change, error) {
	changes, err := s.Changes(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	byTool := map[string]Change{}
	for _, ch := range changes {
		byTool[ch.Tool] = ch
	}
	var chosen []Change
	if want == nil {
		chosen = changes
	} else {
		for _, tool := range sortedKeys(want) {
			ch, ok := byTool[tool]
			if !ok {
				return nil, vargate.Invalid("tools."+tool, "no change of this tool is pending")
			}
			if ch.CurrentDigest != want[tool] {
				return nil, vargate.Errorf(vargate.KindConflict, "tool %s: the upstream now serves %s, not the reviewed %s; review the change again",
					tool, orNone(ch.CurrentDigest), orNone(want[tool]))
			}
			chosen = append(chosen, ch)
		}
	}
	now := s.Now().Truncate(time.Microsecond)
	var upsert []Pin
	var remove []string
	for _, ch := range chosen {
		if ch.Kind == ChangeRemoved {
			remove = append(remove, ch.Tool)
			continue
		}
		upsert = append(upsert, Pin{TenantID: tenantID, Upstream: name, Tool: ch.Tool, Digest: ch.CurrentDigest,
			Definition: ch.Current, ApprovedAt: now, ApprovedBy: actor})
	}
	if len(chosen) == 0 {
		return []Change{}, nil
	}
	if err := s.Store.SetPins(ctx, tenantID, name, upsert, remove); err != nil {
		return nil, err
	}
	s.changed(tenantID)
	approved := make([]map[string]string, len(chosen))
	for i, ch := range chosen {
		approved[i] = map[string]string{"tool": ch.Tool, "kind": ch.Kind, "from": ch.PinnedDigest, "to": ch.CurrentDigest}
	}
	if err := s.audit(ctx, tenantID, actor, "upstream.tools_approved", name, map[string]any{"upstream": name, "approved": approved}); err != nil {
		return nil, err
	}
	return chosen, nil
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
