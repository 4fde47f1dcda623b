package main

import (
	"context"
	"regexp"
)

// upstreamToolRE is the shape of a tool of an upstream MCP server,
// "<upstream>__<tool>". Those tools are listed by the upstream when a
// session connects, so a configuration may name them before the catalog
// knows them.
var upstreamToolRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*__[A-Za-z0-9_.-]+$`)

// knownTool reports whether an agent configuration may list name in
// allowed_tools: a governed tool in the tenant's catalog (built-in or
// tenant tool), or a name shaped like an upstream MCP server's tool.
func (w *mcpWiring) knownTool(ctx context.Context, tenantID, name string) (bool, error) {
	set, err := w.catalog.Set(ctx, tenantID)
	if err != nil {
		return false, err
	}
	if _, ok := set.Lookup(name); ok {
		return true, nil
	}
	return upstreamToolRE.MatchString(name), nil
}
