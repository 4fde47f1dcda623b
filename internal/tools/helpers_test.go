package tools_test

import (
	"context"
	"sort"
	"sync"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// fakeCreds is a vault with values by (tenant, tool ID, name).
type fakeCreds struct {
	mu   sync.Mutex
	m    map[[3]string]cred
	uses []vault.Purpose
}

type cred struct {
	typ   vault.Type
	value string
}

func newCreds() *fakeCreds { return &fakeCreds{m: map[[3]string]cred{}} }

func (f *fakeCreds) put(tenant, tool, name string, typ vault.Type, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == "" {
		name = vault.DefaultName
	}
	f.m[[3]string{tenant, tool, name}] = cred{typ, value}
}

func (f *fakeCreds) Use(_ context.Context, tenant, tool, name string, p vault.Purpose) (vault.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if name == "" {
		name = vault.DefaultName
	}
	c, ok := f.m[[3]string{tenant, tool, name}]
	if !ok {
		return vault.Secret{}, vargate.NotFound("credential")
	}
	f.uses = append(f.uses, p)
	return vault.EnvSecret(tool, c.typ, "TEST", c.value), nil
}

func (f *fakeCreds) List(_ context.Context, tenant string, flt vault.Filter) ([]vault.Metadata, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []vault.Metadata
	for k, c := range f.m {
		if k[0] == tenant && (flt.ToolID == "" || k[1] == flt.ToolID) {
			out = append(out, vault.Metadata{TenantID: tenant, ToolID: k[1], Name: k[2], Type: c.typ, State: vault.StateActive})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
