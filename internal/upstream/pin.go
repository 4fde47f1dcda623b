package upstream

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/policy"
)

// Definition is what an agent is shown of an upstream tool, and so what
// is pinned: a change of any of it is a change an admin must approve.
type Definition struct {
	Name         string          `json:"name"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Annotations  *Annotations    `json:"annotations,omitempty"`
}

// Annotations are a tool's MCP annotations as the upstream gave them
// (absent hints stay absent: their defaults are the protocol's).
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// Pin is the approved definition of one upstream tool.
type Pin struct {
	TenantID string `json:"tenant_id"`
	Upstream string `json:"upstream"`
	// Tool is the tool's own name at the upstream.
	Tool string `json:"tool"`
	// Digest is Digest of Definition.
	Digest     string          `json:"digest"`
	Definition json.RawMessage `json:"definition"`
	ApprovedAt time.Time       `json:"approved_at"`
	ApprovedBy string          `json:"approved_by"`
}

// live is one tool as the upstream serves it now.
type live struct {
	def    Definition
	json   json.RawMessage // canonical
	digest string
}

// toolNameRE is the MCP tool name grammar.
var toolNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// definitionOf reads an upstream tool's definition. It fails for a tool
// the gateway cannot serve (a name outside the MCP grammar or too long
// once prefixed, an input schema that is not an object).
func definitionOf(upstream string, t *mcp.Tool) (live, error) {
	if !toolNameRE.MatchString(t.Name) || len(upstream)+len(Separator)+len(t.Name) > MaxToolNameBytes {
		return live{}, fmt.Errorf("tool name %q cannot be served (MCP name grammar, at most %d bytes with the prefix)", t.Name, MaxToolNameBytes)
	}
	d := Definition{Name: t.Name, Title: t.Title, Description: t.Description}
	var err error
	if d.InputSchema, err = json.Marshal(t.InputSchema); err != nil {
		return live{}, fmt.Errorf("tool %s: input schema: %w", t.Name, err)
	}
	var probe struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(d.InputSchema, &probe) != nil || probe.Type != "object" {
		return live{}, fmt.Errorf("tool %s: the input schema is not an object schema", t.Name)
	}
	if t.OutputSchema != nil {
		if d.OutputSchema, err = json.Marshal(t.OutputSchema); err != nil {
			return live{}, fmt.Errorf("tool %s: output schema: %w", t.Name, err)
		}
	}
	if a := t.Annotations; a != nil {
		d.Annotations = &Annotations{
			Title: a.Title, ReadOnlyHint: &a.ReadOnlyHint, DestructiveHint: a.DestructiveHint,
			IdempotentHint: &a.IdempotentHint, OpenWorldHint: a.OpenWorldHint,
		}
	}
	return canonical(d)
}

// canonical returns the definition with its canonical JSON and digest.
func canonical(d Definition) (live, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return live{}, fmt.Errorf("tool %s: encode definition: %w", d.Name, err)
	}
	// Canonical form: member order and whitespace do not count.
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return live{}, fmt.Errorf("tool %s: decode definition: %w", d.Name, err)
	}
	if b, err = json.Marshal(v); err != nil {
		return live{}, fmt.Errorf("tool %s: encode definition: %w", d.Name, err)
	}
	return live{def: d, json: b, digest: policy.Digest(b)}, nil
}

// Change kinds.
const (
	ChangeAdded   = "added"   // served, never approved
	ChangeChanged = "changed" // served with a definition other than its pin
	ChangeRemoved = "removed" // pinned, no longer served
)

// Change is one difference between an upstream's pins and what it serves.
type Change struct {
	Tool          string          `json:"tool"`
	Kind          string          `json:"kind"`
	PinnedDigest  string          `json:"pinned_digest,omitempty"`
	CurrentDigest string          `json:"current_digest,omitempty"`
	Pinned        json.RawMessage `json:"pinned,omitempty"`
	Current       json.RawMessage `json:"current,omitempty"`
}

// diff compares an upstream's pins with its live tools, by tool name.
func diff(pins []Pin, tools map[string]live) []Change {
	var out []Change
	pinned := map[string]Pin{}
	for _, p := range pins {
		pinned[p.Tool] = p
		l, ok := tools[p.Tool]
		switch {
		case !ok:
			out = append(out, Change{Tool: p.Tool, Kind: ChangeRemoved, PinnedDigest: p.Digest, Pinned: p.Definition})
		case l.digest != p.Digest:
			out = append(out, Change{Tool: p.Tool, Kind: ChangeChanged, PinnedDigest: p.Digest, Pinned: p.Definition,
				CurrentDigest: l.digest, Current: l.json})
		}
	}
	for name, l := range tools {
		if _, ok := pinned[name]; !ok {
			out = append(out, Change{Tool: name, Kind: ChangeAdded, CurrentDigest: l.digest, Current: l.json})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool < out[j].Tool })
	return out
}
