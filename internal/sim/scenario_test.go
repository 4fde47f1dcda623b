package sim_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate/internal/sim"
)

func TestParseScenario(t *testing.T) {
	const js = `{"name": "demo", "steps": [
		{"type": "message", "text": "hi", "delay": 250},
		{"type": "tool", "name": "bash", "input": {"command": "ls"}, "result": "a"},
		{"type": "wait", "duration": "1.5s"},
		{"type": "error", "error": {"type": "unknown_error", "retry_status": "retrying"}},
		{"type": "end_turn"}]}`
	const yml = `
name: demo
steps:
  - {type: message, text: hi, delay: 250}
  - type: tool
    name: bash
    input: {command: ls}
    result: a
  - {type: wait, duration: 1.5s}
  - type: error
    error: {type: unknown_error, retry_status: retrying}
  - type: end_turn
`
	want := sim.Scenario{Name: "demo", Steps: []sim.Step{
		{Type: "message", Text: "hi", Delay: sim.Duration(250 * time.Millisecond)},
		{Type: "tool", Name: "bash", Input: map[string]any{"command": "ls"}, Result: "a"},
		{Type: "wait", Duration: sim.Duration(1500 * time.Millisecond)},
		{Type: "error", Error: &sim.SessionError{Type: "unknown_error", RetryStatus: "retrying"}},
		{Type: "end_turn"},
	}}
	for name, src := range map[string]string{"JSON": js, "YAML": yml} {
		got, err := sim.ParseScenario([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: scenario (-want +got):\n%s", name, diff)
		}
	}
}

func TestParseScenarioErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no name", `{"steps": [{"type": "end_turn"}]}`, "scenario name"},
		{"bad name", `{"name": "a b", "steps": [{"type": "end_turn"}]}`, "scenario name"},
		{"no steps", `{"name": "x", "steps": []}`, "no steps"},
		{"unknown step", `{"name": "x", "steps": [{"type": "dance"}]}`, `steps[0]: unknown step type "dance"`},
		{"unknown field", `{"name": "x", "steps": [{"type": "end_turn", "colour": 1}]}`, "unknown field"},
		{"message without text", `{"name": "x", "steps": [{"type": "message"}]}`, "needs text"},
		{"not a built-in tool", `{"name": "x", "steps": [{"type": "tool", "name": "vargate_send_email"}]}`, "not a built-in tool"},
		{"mcp without name", `{"name": "x", "steps": [{"type": "mcp_tool"}]}`, "needs name"},
		{"wait without duration", `{"name": "x", "steps": [{"type": "wait"}]}`, "positive duration"},
		{"bad duration", `{"name": "x", "steps": [{"type": "wait", "duration": "soon"}]}`, "duration"},
		{"bad retry status", `{"name": "x", "steps": [{"type": "error", "error": {"type": "unknown_error", "retry_status": "maybe"}}]}`, "retry_status"},
		{"message in parallel", `{"name": "x", "steps": [{"type": "parallel", "steps": [{"type": "message", "text": "a"}]}]}`, "only tool and mcp_tool"},
		{"bad auto permission", `{"name": "x", "steps": [{"type": "tool", "name": "bash", "auto_permission": "perhaps"}]}`, "auto_permission"},
		{"bad YAML", "name: [", "YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sim.ParseScenario([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestBuiltinScenarios(t *testing.T) {
	byName := map[string]sim.Scenario{}
	for _, sc := range sim.BuiltinScenarios() {
		byName[sc.Name] = sc
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"benign", "default", "follow_up", "malicious"}; !slices.Equal(names, want) {
		t.Fatalf("built-in scenarios = %v, want %v", names, want)
	}
	var mcpTools []string
	for _, st := range byName["default"].Steps {
		if st.Type == sim.StepMCPTool {
			mcpTools = append(mcpTools, st.Name)
		}
	}
	if !slices.Equal(mcpTools, []string{"vargate_web_search", "vargate_send_email"}) {
		t.Errorf("default scenario MCP tools = %v", mcpTools)
	}

	s, err := sim.New(sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.ScenarioNames(); !slices.Equal(got, names) {
		t.Errorf("a new Server registers %v, want %v", got, names)
	}
	if _, err := sim.New(sim.Options{DefaultScenario: "missing"}); err == nil {
		t.Error("New with an unregistered default scenario: no error")
	}
	if err := s.RegisterScenario(sim.Scenario{Name: "bad"}); err == nil {
		t.Error("RegisterScenario of an invalid scenario: no error")
	}
	if !strings.Contains(sim.ScenarioHelp, "mcp_tool") || !strings.Contains(sim.ScenarioHelp, "drop_stream") {
		t.Error("ScenarioHelp does not document every step type")
	}
}
