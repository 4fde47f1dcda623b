package vault_test

import (
	"errors"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/vault"
)

// TestBindingRefusesOtherDestinations: a credential goes only where its
// tool ID binds it; every other destination is refused before the value
// is opened (and nothing is released, so nothing is audited as a use).
func TestBindingRefusesOtherDestinations(t *testing.T) {
	f := newFixture(t, storetest.Open(t, sqlstore.SQLite))
	register(t, f.v, "tenant-a", vault.AnthropicToolID, "", vault.TypeAPIKey, "sk-ant-canary")
	register(t, f.v, "tenant-a", "http:api.example.com", "", vault.TypeAPIKey, "host-canary")
	register(t, f.v, "tenant-a", "vargate_web_search", "", vault.TypeAPIKey, "search-canary")
	register(t, f.v, "tenant-a", "vargate_upstream_ours", "", vault.TypeAPIKey, "stdio-canary")
	before := len(f.audit.records())
	// A connector that names itself (a stdio MCP upstream) gets only the
	// credential bound to it.
	for _, c := range []struct{ tool, connector string }{
		{vault.AnthropicToolID, "vargate_upstream_ours"},
		{"vargate_web_search", "vargate_upstream_ours"},
		{"vargate_upstream_ours", "vargate_upstream_theirs"},
		{"http:api.example.com", "vargate_upstream_ours"},
	} {
		p := purpose
		p.Connector = c.connector
		if _, err := f.v.Use(t.Context(), "tenant-a", c.tool, "", p); !vargate.IsKind(err, vargate.KindForbidden) {
			t.Errorf("Use(%s) by %q = %v, want forbidden", c.tool, c.connector, err)
		}
	}
	for _, c := range []struct{ tool, host string }{
		{vault.AnthropicToolID, "evil.example"},
		{vault.AnthropicToolID, "api.example.com"},
		{"vargate_web_search", "api.example.com"},
		{"http:api.example.com", ""},
		{"http:api.example.com", "evil.example"},
		{"http:api.example.com", "api.example.com.evil.example"},
		{"http:api.example.com", "sub.api.example.com"},
		{"crm", "api.example.com"},
		{"crm", ""},
	} {
		p := purpose
		p.Host = c.host
		if _, err := f.v.Use(t.Context(), "tenant-a", c.tool, "", p); !vargate.IsKind(err, vargate.KindForbidden) {
			t.Errorf("Use(%s) to %q = %v, want forbidden", c.tool, c.host, err)
		}
	}
	if n := len(f.audit.records()) - before; n != 0 {
		t.Errorf("refused uses wrote %d audit records", n)
	}
	if p := purpose; true {
		p.Connector = "vargate_upstream_ours"
		if s, err := f.v.Use(t.Context(), "tenant-a", "vargate_upstream_ours", "", p); err != nil || string(s.Reveal()) != "stdio-canary" {
			t.Errorf("Use(vargate_upstream_ours) by itself = %v", err)
		}
	}
	for _, c := range []struct{ tool, host, want string }{
		{vault.AnthropicToolID, "", "sk-ant-canary"},
		{"http:api.example.com", "API.example.com.", "host-canary"},
		{"vargate_web_search", "", "search-canary"},
	} {
		p := purpose
		p.Host = c.host
		s, err := f.v.Use(t.Context(), "tenant-a", c.tool, "", p)
		if err != nil || string(s.Reveal()) != c.want {
			t.Errorf("Use(%s) to %q = %v", c.tool, c.host, err)
		}
	}
}

// TestRegistrationNamesADestination: a tool ID that names neither a host
// nor a built-in connector is refused, naming the field.
func TestRegistrationNamesADestination(t *testing.T) {
	f := newFixture(t, storetest.Open(t, sqlstore.SQLite))
	for _, tool := range []string{"crm", "http:", "http:API.example.com", "http:api.example.com:443", "http:a..b", "vargate_"} {
		_, err := f.v.Register(t.Context(), "tenant-a", vault.Registration{ToolID: tool, Type: vault.TypeAPIKey, Value: []byte("value-123")})
		var ve *vargate.Error
		if !vargate.IsKind(err, vargate.KindInvalid) || !errors.As(err, &ve) || ve.Field != "tool_id" {
			t.Errorf("register %q = %v, want invalid tool_id", tool, err)
		}
	}
	for _, name := range []string{"header.Upgrade", "header.TE", "header.Proxy-Authorization", "header.Host", "header.Connection", "header.Content-Length"} {
		_, err := f.v.Register(t.Context(), "tenant-a", vault.Registration{ToolID: "http:api.example.com", Name: name, Type: vault.TypeAPIKey, Value: []byte("value-123")})
		var ve *vargate.Error
		if !errors.As(err, &ve) || ve.Field != "name" {
			t.Errorf("register header credential %q = %v, want invalid name", name, err)
		}
	}
	for _, tool := range []string{"http:api.example.com", "http:10.0.0.7", "http:::1", "anthropic", "vargate_send_email"} {
		if _, err := f.v.Register(t.Context(), "tenant-a", vault.Registration{ToolID: tool, Type: vault.TypeAPIKey, Value: []byte("value-123")}); err != nil {
			t.Errorf("register %q = %v", tool, err)
		}
	}
}
