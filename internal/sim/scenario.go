package sim

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Step types of a scenario.
const (
	StepMessage    = "message"     // agent.message with Text
	StepThinking   = "thinking"    // agent.thinking
	StepTool       = "tool"        // built-in tool Name with Input and canned Result
	StepMCPTool    = "mcp_tool"    // tool Name on MCP server Server, called for real
	StepParallel   = "parallel"    // several tool/mcp_tool Steps used at once
	StepWait       = "wait"        // pause for Duration
	StepEndTurn    = "end_turn"    // end the turn: session.status_idle end_turn
	StepError      = "error"       // session.error, then retry, idle or terminate
	StepReschedule = "reschedule"  // a rescheduling period of Duration
	StepDropStream = "drop_stream" // close every open event stream of the session
	StepSubagent   = "subagent"    // a sub-agent thread named Agent plays Steps
	StepCustomTool = "custom_tool" // agent.custom_tool_use of the agent's custom tool Name; waits for user.custom_tool_result
	StepCompact    = "compact"     // agent.thread_context_compacted
)

// Retry statuses of a session.error step.
const (
	RetryRetrying  = "retrying"
	RetryExhausted = "exhausted"
	RetryTerminal  = "terminal"
)

// MetadataScenarioKey is the session metadata key that selects a registered
// scenario at session creation.
const MetadataScenarioKey = "vargate_scenario"

// MessageScenarioPrefix starts a first user message that selects a scenario:
// "scenario:NAME rest of the message".
const MessageScenarioPrefix = "scenario:"

// DefaultScenarioName is the scenario a session plays when none is chosen.
const DefaultScenarioName = "default"

// UserMessagePlaceholder in a message step's text is replaced with the text
// of the user message that started the turn.
const UserMessagePlaceholder = "{{user_message}}"

// Scenario is a scripted agent: a list of steps played in order. A user
// message starts a turn, which plays steps up to and including the next
// end_turn step; the next user message continues from there. A turn that
// runs out of steps ends as if it met end_turn, and a user message after
// the last step gets a short reply and an end_turn.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Steps       []Step `json:"steps"`
}

// Step is one action of a scenario. Which fields apply depends on Type; see
// ScenarioHelp.
type Step struct {
	Type string `json:"type"`
	// Text of a message step.
	Text string `json:"text,omitempty"`
	// Name of the tool of a tool or mcp_tool step.
	Name string `json:"name,omitempty"`
	// Server is the mcp_servers name of an mcp_tool step; empty means the
	// agent's first MCP server.
	Server string `json:"server,omitempty"`
	// Input of the tool call.
	Input map[string]any `json:"input,omitempty"`
	// Result is the canned result of a built-in tool; IsError marks it failed.
	Result  string `json:"result,omitempty"`
	IsError bool   `json:"is_error,omitempty"`
	// AutoPermission is what the simulated "auto" permission policy decides
	// for this call: allow (default), ask or deny.
	AutoPermission string `json:"auto_permission,omitempty"`
	// Steps of a parallel or subagent step.
	Steps []Step `json:"steps,omitempty"`
	// Agent is the name of a subagent step's sub-agent.
	Agent string `json:"agent,omitempty"`
	// Duration of a wait or reschedule step, or of the retry period of an
	// error step with retry_status retrying.
	Duration Duration `json:"duration,omitzero"`
	// Error of an error step.
	Error *SessionError `json:"error,omitempty"`

	// Delay makes the step slow: the agent pauses this long before it.
	Delay Duration `json:"delay,omitzero"`
	// Duplicate delivers every event of the step twice on the stream (same
	// ID), as an at-least-once transport may.
	Duplicate bool `json:"duplicate,omitempty"`
}

// SessionError is the session.error an error step emits.
type SessionError struct {
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
	// RetryStatus is retrying (a rescheduling period, then the turn goes
	// on), exhausted (idle with retries_exhausted) or terminal (the session
	// is terminated).
	RetryStatus   string `json:"retry_status"`
	MCPServerName string `json:"mcp_server_name,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "2s") or a number of milliseconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want a string like \"250ms\" or a number of milliseconds")
	}
	*d = Duration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// validScenarioName reports whether name is 1 to 64 letters, digits, '_',
// '-' or '.'.
func validScenarioName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Validate reports the first problem with the scenario, naming the step.
func (sc Scenario) Validate() error {
	if !validScenarioName(sc.Name) {
		return fmt.Errorf("scenario name %q: use 1 to 64 letters, digits, '_', '-' or '.'", sc.Name)
	}
	if len(sc.Steps) == 0 {
		return fmt.Errorf("scenario %s: no steps", sc.Name)
	}
	for i, st := range sc.Steps {
		if err := st.validate(false); err != nil {
			return fmt.Errorf("scenario %s: steps[%d]: %w", sc.Name, i, err)
		}
	}
	return nil
}

func (st Step) validate(inParallel bool) error {
	if st.Delay < 0 || st.Duration < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	switch st.AutoPermission {
	case "", "allow", "ask", "deny":
	default:
		return fmt.Errorf("auto_permission: want allow, ask or deny, not %q", st.AutoPermission)
	}
	if inParallel && st.Type != StepTool && st.Type != StepMCPTool {
		return fmt.Errorf("a parallel step may hold only tool and mcp_tool steps, not %q", st.Type)
	}
	switch st.Type {
	case StepMessage:
		if st.Text == "" {
			return fmt.Errorf("message step needs text")
		}
	case StepTool:
		if !isBuiltinTool(st.Name) {
			return fmt.Errorf("tool step: %q is not a built-in tool (bash, edit, read, write, glob, grep, web_fetch, web_search)", st.Name)
		}
	case StepMCPTool:
		if st.Name == "" {
			return fmt.Errorf("mcp_tool step needs name")
		}
	case StepParallel:
		if len(st.Steps) == 0 {
			return fmt.Errorf("parallel step needs steps")
		}
		for j, sub := range st.Steps {
			if err := sub.validate(true); err != nil {
				return fmt.Errorf("steps[%d]: %w", j, err)
			}
		}
	case StepSubagent:
		if st.Agent == "" || len(st.Steps) == 0 {
			return fmt.Errorf("subagent step needs agent and steps")
		}
		for j, sub := range st.Steps {
			switch sub.Type {
			case StepMessage, StepThinking, StepTool, StepMCPTool, StepParallel, StepWait, StepReschedule, StepCompact:
			default:
				return fmt.Errorf("steps[%d]: a sub-agent plays message, thinking, tool, mcp_tool, parallel, wait, reschedule and compact steps, not %q", j, sub.Type)
			}
			if err := sub.validate(false); err != nil {
				return fmt.Errorf("steps[%d]: %w", j, err)
			}
		}
	case StepWait:
		if st.Duration <= 0 {
			return fmt.Errorf("wait step needs a positive duration")
		}
	case StepError:
		if st.Error == nil || st.Error.Type == "" {
			return fmt.Errorf("error step needs error.type")
		}
		switch st.Error.RetryStatus {
		case RetryRetrying, RetryExhausted, RetryTerminal:
		default:
			return fmt.Errorf("error.retry_status: want retrying, exhausted or terminal, not %q", st.Error.RetryStatus)
		}
	case StepCustomTool:
		if st.Name == "" {
			return fmt.Errorf("custom_tool step needs name")
		}
	case StepThinking, StepEndTurn, StepReschedule, StepDropStream, StepCompact:
	case "":
		return fmt.Errorf("step needs a type")
	default:
		return fmt.Errorf("unknown step type %q", st.Type)
	}
	return nil
}

// ParseScenario reads a scenario written in JSON or YAML and validates it.
func ParseScenario(data []byte) (Scenario, error) {
	var sc Scenario
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] != '{' {
		// YAML: decode into generic values, then through JSON so both
		// formats share the json tags and the Duration parsing.
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return sc, fmt.Errorf("parse scenario YAML: %w", err)
		}
		var err error
		if trimmed, err = json.Marshal(v); err != nil {
			return sc, fmt.Errorf("parse scenario YAML: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("parse scenario: %w", err)
	}
	return sc, sc.Validate()
}

// LoadScenario reads a scenario file (JSON or YAML).
func LoadScenario(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	sc, err := ParseScenario(data)
	if err != nil {
		return sc, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

//go:embed scenarios/*.json
var builtinScenarioFiles embed.FS

// BuiltinScenarios returns the scenarios every Server starts with:
// default (the guide's example), benign, malicious and follow_up.
func BuiltinScenarios() []Scenario {
	entries, err := builtinScenarioFiles.ReadDir("scenarios")
	if err != nil {
		panic("sim: embedded scenarios: " + err.Error()) // the files are compiled in
	}
	out := make([]Scenario, 0, len(entries))
	for _, e := range entries {
		data, err := builtinScenarioFiles.ReadFile("scenarios/" + e.Name())
		if err != nil {
			panic("sim: embedded scenarios: " + err.Error())
		}
		sc, err := ParseScenario(data)
		if err != nil {
			panic("sim: embedded scenario " + e.Name() + ": " + err.Error()) // caught by the package tests
		}
		out = append(out, sc)
	}
	return out
}

// ScenarioHelp documents the scenario format; `vargate sim --help` prints it.
const ScenarioHelp = `Scenarios

A session is driven by a scripted agent. A scenario is a JSON (or YAML) file:

  {"name": "demo", "description": "…", "steps": [ STEP, … ]}

A user message starts a turn; the turn plays steps up to and including the
next end_turn step, and the next user message continues after it. A turn that
runs out of steps ends as if it met end_turn.

Steps ("type" and its fields):
  message      text          agent.message; "{{user_message}}" is replaced by
                             the text of the user message that started the turn
  thinking                   agent.thinking
  tool         name, input,  a built-in tool (bash, read, write, edit, glob, grep,
               result,       web_fetch, web_search): agent.tool_use, then
               is_error      agent.tool_result with the canned result
  mcp_tool     name, input,  a tool on the agent's MCP server "server" (default:
               server        its first), called for real over Streamable HTTP with
                             the static_bearer token of the session's vaults whose
                             mcp_server_url equals the server URL (none if no match):
                             agent.mcp_tool_use, then agent.mcp_tool_result
  parallel     steps         several tool/mcp_tool calls at once; "ask" calls are
                             confirmed together
  wait         duration      pause
  end_turn                   session.status_idle with stop_reason end_turn
  error        error         session.error {type, message, retry_status,
                             mcp_server_name}; retry_status "retrying" reschedules
                             for duration and goes on, "exhausted" idles with
                             retries_exhausted, "terminal" terminates the session
  reschedule   duration      session.status_rescheduled … session.status_running (in a
                             sub-agent: session.thread_status_rescheduled … _running)
  custom_tool  name, input   agent.custom_tool_use of the agent's custom tool name;
                             the session idles with requires_action until
                             user.custom_tool_result answers it
  compact                    agent.thread_context_compacted
  drop_stream                close the session's open event streams (no replay)
  subagent     agent, steps  a sub-agent thread named agent plays steps (message,
                             thinking, tool, mcp_tool, parallel, wait, reschedule,
                             compact) on its own
                             stream (GET …/threads/{id}/stream), its events
                             tagged with session_thread_id; the session stream
                             shows agent.thread_message_sent, then
                             session.thread_created and its
                             session.thread_status_* events, its permission
                             requests, and agent.thread_message_received when
                             it is done; a terminated session terminates its
                             threads (session.thread_status_terminated)

On any step: "delay" (slow step: pause before it), "duplicate": true (every
event of the step is delivered twice on the stream, same ID). On tool steps:
"auto_permission" (allow, ask, deny) is the verdict of an "auto" policy.
Durations are strings like "250ms" or "2s", or numbers of milliseconds.

Permission policies are the agent's: built-in tools default to always_allow,
MCP toolsets to always_ask. An ask call idles the session with stop_reason
requires_action until user.tool_confirmation settles it; a deny's
deny_message comes back as the tool result (is_error).

Choosing a scenario: session metadata {"vargate_scenario": "NAME"} at
creation, or a first user message "scenario:NAME …"; otherwise the default.
Built in: default (research with vargate_web_search, a bash step, then
vargate_send_email, which needs approval; a follow-up message gets a reply),
benign (build, test, git), malicious (reads ~/.ssh/id_rsa, curl | sh, exfil
with curl -d), follow_up (replies to a follow-up message, e.g. an approval
outcome). Example: docs/scenario-example.json.
`

// quoteList formats names for messages.
func quoteList(names []string) string {
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}
