package main

import (
	"context"
	"path"
	"strings"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/upstream"
)

// knownTool reports whether an agent configuration may list name in
// allowed_tools: a governed tool in the tenant's catalog (built-in, tenant
// tool or approved upstream tool), a pattern matching at least one of
// them, or "<upstream>__<tool or pattern>" of one of the tenant's upstream
// MCP servers (whose tools may not be approved yet).
func (w *mcpWiring) knownTool(ctx context.Context, tenantID, name string) (bool, error) {
	set, err := w.catalog.Set(ctx, tenantID)
	if err != nil {
		return false, err
	}
	if _, ok := set.Lookup(name); ok {
		return true, nil
	}
	if strings.ContainsAny(name, "*?[") {
		for _, t := range set.Tools {
			if ok, _ := path.Match(name, t.Name); ok {
				return true, nil
			}
		}
	}
	prefix, _, ok := strings.Cut(name, upstream.Separator)
	if !ok || w.upstreams == nil || prefix == "" {
		return false, nil
	}
	_, err = w.upstreams.Get(ctx, tenantID, prefix)
	switch {
	case err == nil:
		return true, nil
	case vargate.IsKind(err, vargate.KindNotFound):
		return false, nil
	}
	return false, err
}
