package policy_test

import (
	"testing"

	"github.com/vargate/vargate/internal/policy"
)

// TestAlwaysDenied: a tool is statically denied only when no arguments,
// personal data or session could make a call of it allowed.
func TestAlwaysDenied(t *testing.T) {
	ctx := t.Context()
	e, err := policy.NewEngine(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := policy.Compile(ctx, "v1", map[string]string{"tenant.rego": `package vargate.tenant

deny contains "no_github: GitHub tools are off limits" if input.call.upstream == "github"

deny contains "no_destructive: destructive upstream tools are off limits" if input.call.annotations.destructive_hint

deny contains "no_drop: never drop tables" if contains(input.call.arguments.query, "DROP")

deny contains "quiet_hours" if input.session.calls > 100
`})
	if err != nil {
		t.Fatal(err)
	}
	e.Activate("t1", v)
	agent := policy.Agent{ID: "a1", AllowedTools: []string{"vargate_read_database", "github__*", "issues__*"}}
	safe := &policy.Annotations{ReadOnly: true}
	tests := []struct {
		name string
		call policy.Call
		want bool
	}{
		{"allowed, argument rule only", policy.Call{Tool: "vargate_read_database"}, false},
		{"not in allowed_tools", policy.Call{Tool: "vargate_send_email"}, true},
		{"denied upstream", policy.Call{Tool: "github__list-repos", Upstream: "github", Annotations: safe}, true},
		{"destructive upstream tool", policy.Call{Tool: "issues__delete", Upstream: "issues", Annotations: &policy.Annotations{Destructive: true}}, true},
		{"read-only upstream tool", policy.Call{Tool: "issues__get", Upstream: "issues", Annotations: safe}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				got, err := e.AlwaysDenied(ctx, &policy.Input{Tenant: policy.Tenant{ID: "t1"}, Agent: agent, Call: tt.call})
				if err != nil || got != tt.want {
					t.Errorf("AlwaysDenied = %v, %v; want %v", got, err, tt.want)
				}
			}
		})
	}
}
