package sim_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/sim"
)

func TestAgentLifecycle(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ctx := t.Context()
	a := f.newAgent(t, "https://gw.example/mcp", false)
	if !strings.HasPrefix(a.ID, "agent_") || a.Version != 1 || a.Model.ID != "claude-sonnet-4-6" || !a.ArchivedAt.IsZero() {
		t.Errorf("created agent: id %q version %d model %q archived %v", a.ID, a.Version, a.Model.ID, a.ArchivedAt)
	}
	if len(a.Tools) != 2 || a.Tools[0].Type != "agent_toolset_20260401" || a.Tools[0].DefaultConfig.PermissionPolicy.Type != "always_allow" ||
		a.Tools[1].Type != "mcp_toolset" || a.Tools[1].MCPServerName != "vargate-governance" || a.Tools[1].DefaultConfig.PermissionPolicy.Type != "always_ask" {
		t.Errorf("resolved tools = %s, want the toolset defaults filled in (always_allow, always_ask)", a.JSON.Tools.Raw())
	}
	if a.ExecutionIdentity.Type != "service_account" {
		t.Errorf("execution_identity = %q, want service_account", a.ExecutionIdentity.Type)
	}

	// Update: omitted fields are kept, arrays replaced whole, version bumped.
	up, err := f.client.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{
		Version:    anthropic.Int(1),
		System:     anthropic.String("new prompt"),
		Tools:      []anthropic.BetaAgentUpdateParamsToolUnion{{OfAgentToolset20260401: &anthropic.BetaManagedAgentsAgentToolset20260401Params{}}},
		MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.Version != 2 || up.System != "new prompt" || up.Name != a.Name || len(up.Tools) != 1 || len(up.MCPServers) != 0 {
		t.Errorf("updated agent: version %d system %q name %q tools %d servers %d", up.Version, up.System, up.Name, len(up.Tools), len(up.MCPServers))
	}
	_, err = f.client.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{Version: anthropic.Int(1), Name: anthropic.String("x")})
	if ae := apiError(t, err); ae.StatusCode != 409 || ae.Type() != "invalid_request_error" {
		t.Errorf("stale version: %d %s, want 409 invalid_request_error", ae.StatusCode, ae.Type())
	}
	v1, err := f.client.Beta.Agents.Get(ctx, a.ID, anthropic.BetaAgentGetParams{Version: anthropic.Int(1)})
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.System != "You are governed by Vargate." {
		t.Errorf("version 1 = %d %q, want the original", v1.Version, v1.System)
	}
	versions, err := f.client.Beta.Agents.Versions.List(ctx, a.ID, anthropic.BetaAgentVersionListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.Data) != 2 || versions.Data[0].Version != 2 {
		t.Errorf("versions = %d, newest %d; want 2, newest first", len(versions.Data), versions.Data[0].Version)
	}

	// A session pinned to version 1 keeps its snapshot.
	env := f.newEnvironment(t, "pinned")
	sess, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent:         anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgents: &anthropic.BetaManagedAgentsAgentParams{ID: a.ID, Version: anthropic.Int(1)}},
		EnvironmentID: env.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sess.Agent.Version != 1 || len(sess.Agent.MCPServers) != 1 {
		t.Errorf("pinned session agent: version %d servers %d, want version 1 with its MCP server", sess.Agent.Version, len(sess.Agent.MCPServers))
	}

	arch, err := f.client.Beta.Agents.Archive(ctx, a.ID, anthropic.BetaAgentArchiveParams{})
	if err != nil {
		t.Fatal(err)
	}
	if arch.ArchivedAt.IsZero() {
		t.Error("archived agent has no archived_at")
	}
	_, err = f.client.Beta.Agents.Update(ctx, a.ID, anthropic.BetaAgentUpdateParams{Name: anthropic.String("x")})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("update of an archived agent: %d, want 409", ae.StatusCode)
	}
	list, err := f.client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 0 {
		t.Errorf("list without archived: %d agents, want 0", len(list.Data))
	}
	list, err = f.client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{IncludeArchived: anthropic.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 1 {
		t.Errorf("list with archived: %d agents, want 1", len(list.Data))
	}
}

func TestAgentOverrides(t *testing.T) {
	f := newFixture(t, sim.Options{})
	a := f.newAgent(t, "", false)
	env := f.newEnvironment(t, "overrides")
	sess, err := f.client.Beta.Sessions.New(t.Context(), anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverridess: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
			ID:         a.ID,
			System:     anthropic.String("governed session"),
			MCPServers: []anthropic.BetaManagedAgentsURLMCPServerParams{{Name: "gw", URL: "https://gw.example/mcp/sesn"}},
			Tools:      []anthropic.BetaManagedAgentsAgentWithOverridesParamsToolUnion{{OfMCPToolset: &anthropic.BetaManagedAgentsMCPToolsetParams{MCPServerName: "gw"}}},
		}},
		EnvironmentID: env.ID,
		Metadata:      map[string]string{"tenant": "acme"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sess.ID, "sesn_") || sess.Agent.ID != a.ID || sess.Agent.System != "governed session" ||
		len(sess.Agent.MCPServers) != 1 || sess.Agent.MCPServers[0].URL != "https://gw.example/mcp/sesn" || sess.Metadata["tenant"] != "acme" {
		t.Errorf("session = %s", sess.RawJSON())
	}
	stored, err := f.client.Beta.Agents.Get(t.Context(), a.ID, anthropic.BetaAgentGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.System != "You are governed by Vargate." || stored.Version != 1 {
		t.Errorf("overrides changed the stored agent: %q v%d", stored.System, stored.Version)
	}
}

func TestEnvironments(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ctx := t.Context()
	env, err := f.client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{
		Name: "locked-down",
		Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{
				AllowedHosts: []string{"gw.example.com", "*.example.org"}, AllowMCPServers: anthropic.Bool(true),
			}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.ID, "env_") || env.Config.Type != "cloud" || env.Config.Networking.Type != "limited" ||
		!env.Config.Networking.AllowMCPServers || len(env.Config.Networking.AllowedHosts) != 2 {
		t.Errorf("environment = %s", env.RawJSON())
	}
	open, err := f.client.Beta.Environments.New(ctx, anthropic.BetaEnvironmentNewParams{Name: "open"})
	if err != nil {
		t.Fatal(err)
	}
	if open.Config.Networking.Type != "unrestricted" {
		t.Errorf("default networking = %q, want unrestricted", open.Config.Networking.Type)
	}

	bad := []struct {
		name   string
		params anthropic.BetaEnvironmentNewParams
		status int
	}{
		{"duplicate name", anthropic.BetaEnvironmentNewParams{Name: "open"}, 409},
		{"host with scheme", anthropic.BetaEnvironmentNewParams{Name: "b1", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{AllowedHosts: []string{"https://x.example"}}},
		}}}, 400},
		{"packages without package managers", anthropic.BetaEnvironmentNewParams{Name: "b2", Config: anthropic.BetaEnvironmentNewParamsConfigUnion{OfCloud: &anthropic.BetaCloudConfigParams{
			Networking: anthropic.BetaCloudConfigParamsNetworkingUnion{OfLimited: &anthropic.BetaLimitedNetworkParams{}},
			Packages:   anthropic.BetaPackagesParams{Pip: []string{"requests"}},
		}}}, 400},
	}
	for _, tt := range bad {
		_, err := f.client.Beta.Environments.New(ctx, tt.params)
		if ae := apiError(t, err); ae.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, ae.StatusCode, tt.status)
		}
	}

	if _, err := f.client.Beta.Environments.Archive(ctx, open.ID, anthropic.BetaEnvironmentArchiveParams{}); err != nil {
		t.Fatal(err)
	}
	a := f.newAgent(t, "", false)
	_, err = f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(a.ID)}, EnvironmentID: open.ID,
	})
	if ae := apiError(t, err); ae.StatusCode != 409 {
		t.Errorf("session in an archived environment: %d, want 409", ae.StatusCode)
	}
	del, err := f.client.Beta.Environments.Delete(ctx, env.ID, anthropic.BetaEnvironmentDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != env.ID || del.Type != "environment_deleted" {
		t.Errorf("delete = %s", del.RawJSON())
	}
	_, err = f.client.Beta.Environments.Get(ctx, env.ID, anthropic.BetaEnvironmentGetParams{})
	if ae := apiError(t, err); ae.StatusCode != 404 {
		t.Errorf("get after delete: %d, want 404", ae.StatusCode)
	}
}

// Vault secrets are write-only: no response carries them.
func TestVaultCredentials(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ctx := t.Context()
	v, err := f.client.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{DisplayName: "tenant acme", Metadata: map[string]string{"tenant": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.ID, "vlt_") || v.DisplayName != "tenant acme" || v.Metadata["tenant"] != "acme" {
		t.Errorf("vault = %s", v.RawJSON())
	}
	const secret = "vg_live_supersecret"
	c, err := f.client.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		DisplayName: anthropic.String("gateway"),
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			MCPServerURL: "https://gw.example/mcp", Token: secret,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "vcrd_") || c.VaultID != v.ID || c.Auth.Type != "static_bearer" || c.Auth.MCPServerURL != "https://gw.example/mcp" {
		t.Errorf("credential = %s", c.RawJSON())
	}
	got, err := f.client.Beta.Vaults.Credentials.Get(ctx, c.ID, anthropic.BetaVaultCredentialGetParams{VaultID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.client.Beta.Vaults.Credentials.List(ctx, v.ID, anthropic.BetaVaultCredentialListParams{})
	if err != nil {
		t.Fatal(err)
	}
	upd, err := f.client.Beta.Vaults.Credentials.Update(ctx, c.ID, anthropic.BetaVaultCredentialUpdateParams{
		VaultID: v.ID,
		Auth: anthropic.BetaVaultCredentialUpdateParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerUpdateParams{
			Token: anthropic.String(secret + "2"),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{c.RawJSON(), got.RawJSON(), list.RawJSON(), upd.RawJSON()} {
		if strings.Contains(raw, secret) || strings.Contains(raw, `"token"`) {
			t.Errorf("a response carries the secret: %s", raw)
		}
	}
	if len(list.Data) != 1 {
		t.Errorf("credentials listed: %d, want 1", len(list.Data))
	}
	if _, err := f.client.Beta.Vaults.Credentials.Archive(ctx, c.ID, anthropic.BetaVaultCredentialArchiveParams{VaultID: v.ID}); err != nil {
		t.Fatal(err)
	}
	del, err := f.client.Beta.Vaults.Delete(ctx, v.ID, anthropic.BetaVaultDeleteParams{})
	if err != nil {
		t.Fatal(err)
	}
	if del.Type != "vault_deleted" {
		t.Errorf("vault delete type = %q", del.Type)
	}
}

// Lists page with limit and next_page, newest first, and the SDK's auto
// pager follows them.
func TestListPagination(t *testing.T) {
	f := newFixture(t, sim.Options{})
	ctx := t.Context()
	var ids []string
	for i := range 5 {
		a, err := f.client.Beta.Agents.New(ctx, anthropic.BetaAgentNewParams{
			Name: fmt.Sprintf("agent-%d", i), Model: anthropic.BetaManagedAgentsModelConfigParams{ID: "claude-sonnet-4-6"},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	slices.Reverse(ids) // newest first

	page, err := f.client.Beta.Agents.List(ctx, anthropic.BetaAgentListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.NextPage == "" {
		t.Fatalf("first page: %d items, next_page %q; want 2 and a cursor", len(page.Data), page.NextPage)
	}
	var got []string
	pager := f.client.Beta.Agents.ListAutoPaging(ctx, anthropic.BetaAgentListParams{Limit: anthropic.Int(2)})
	for pager.Next() {
		got = append(got, pager.Current().ID)
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("auto-paged IDs:\n got %v\nwant %v", got, ids)
	}

	// Sessions: bidirectional cursors.
	env := f.newEnvironment(t, "paging")
	for range 3 {
		if _, err := f.client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
			Agent: anthropic.BetaSessionNewParamsAgentUnion{OfString: anthropic.String(ids[0])}, EnvironmentID: env.ID,
		}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := f.client.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{Limit: anthropic.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	second, err := first.GetNextPage()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Data) != 2 || first.PrevPage != "" || second == nil || len(second.Data) != 1 || second.PrevPage == "" || second.NextPage != "" {
		t.Errorf("session pages: first %d (prev %q), second %v", len(first.Data), first.PrevPage, second)
	}
	back, err := f.client.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{Limit: anthropic.Int(2), Page: anthropic.String(second.PrevPage)})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Data) != 2 || back.Data[0].ID != first.Data[0].ID {
		t.Errorf("prev_page of the second page gave %d sessions starting %v, want the first page", len(back.Data), back.Data)
	}
	filtered, err := f.client.Beta.Sessions.List(ctx, anthropic.BetaSessionListParams{Statuses: []string{"running"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered.Data) != 0 {
		t.Errorf("sessions with status running: %d, want 0", len(filtered.Data))
	}
}
