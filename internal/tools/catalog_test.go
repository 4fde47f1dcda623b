package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/tools"
)

// memStore keeps tenant tools in memory.
type memStore struct {
	mu    sync.Mutex
	m     map[[2]string]tools.TenantTool
	reads int
}

func newMemStore() *memStore { return &memStore{m: map[[2]string]tools.TenantTool{}} }

func (s *memStore) CreateTenantTool(_ context.Context, t tools.TenantTool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{t.TenantID, t.Name}
	if _, ok := s.m[k]; ok {
		return vargate.Errorf(vargate.KindConflict, "exists")
	}
	s.m[k] = t
	return nil
}

func (s *memStore) TenantTools(_ context.Context, tenantID string) ([]tools.TenantTool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	var out []tools.TenantTool
	for k, t := range s.m {
		if k[0] == tenantID {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *memStore) TenantTool(_ context.Context, tenantID, name string) (tools.TenantTool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[[2]string{tenantID, name}]
	if !ok {
		return t, vargate.NotFound("tool")
	}
	return t, nil
}

func (s *memStore) DeleteTenantTool(_ context.Context, tenantID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[[2]string{tenantID, name}]; !ok {
		return vargate.NotFound("tool")
	}
	delete(s.m, [2]string{tenantID, name})
	return nil
}

func vargateAs(err error, target **vargate.Error) bool { return errors.As(err, target) }

func TestCatalogSets(t *testing.T) {
	store := newMemStore()
	now := time.Date(2026, 4, 11, 0, 0, 0, 0, time.UTC)
	cat := tools.NewCatalog(tools.NewWebSearchTool(&tools.WebSearchConnector{}))
	cat.Store, cat.Now, cat.TTL = store, func() time.Time { return now }, time.Minute
	ctx := t.Context()
	def := tools.TenantTool{Name: "lookup", Description: "d", InputSchema: json.RawMessage(`{"type":"object"}`),
		Request: tools.RequestTemplate{URL: "https://api.example.com/"}}

	s1, err := cat.Set(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if s2, _ := cat.Set(ctx, "t1"); s2 != s1 || store.reads != 1 {
		t.Errorf("second Set: same=%v reads=%d, want the cached set and one read", s2 == s1, store.reads)
	}
	if _, err := cat.Create(ctx, "t1", "key-1", def); err != nil {
		t.Fatal(err)
	}
	s3, _ := cat.Set(ctx, "t1")
	if s3 == s1 {
		t.Fatal("Create did not replace the cached set")
	}
	if _, ok := s3.Lookup("lookup"); !ok || len(s3.Tools) != 2 {
		t.Errorf("set = %v, want the built-in and the new tool", s3.Names())
	}
	if other, _ := cat.Set(ctx, "t2"); len(other.Tools) != 1 {
		t.Errorf("another tenant sees %v", other.Names())
	}
	// After the TTL the set is read again, and keeps its identity when
	// nothing changed.
	now = now.Add(2 * time.Minute)
	if s4, _ := cat.Set(ctx, "t1"); s4 != s3 {
		t.Error("reloading an unchanged set changed its identity")
	}

	for name, d := range map[string]tools.TenantTool{
		"duplicate":        def,
		"built-in name":    {Name: tools.WebSearch, Description: "d", InputSchema: def.InputSchema, Request: def.Request},
		"invalid template": {Name: "x", Description: "d", InputSchema: def.InputSchema, Request: tools.RequestTemplate{URL: "nope"}},
	} {
		if _, err := cat.Create(ctx, "t1", "key-1", d); err == nil {
			t.Errorf("%s: created", name)
		}
	}
	if err := cat.Delete(ctx, "t1", "key-1", "lookup"); err != nil {
		t.Fatal(err)
	}
	if s5, _ := cat.Set(ctx, "t1"); len(s5.Tools) != 1 {
		t.Errorf("after delete: %v", s5.Names())
	}
	if err := cat.Delete(ctx, "t1", "key-1", "lookup"); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("second delete: %v, want not found", err)
	}
}
