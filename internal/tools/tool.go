package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/vault"
)

// Names of the built-in tools.
const (
	WebSearch      = "vargate_web_search"
	SendEmail      = "vargate_send_email"
	ReadDatabase   = "vargate_read_database"
	HTTPRequest    = "vargate_http_request"
	ApprovalStatus = "vargate_approval_status"
)

// ReservedPrefix starts every built-in tool name; tenant tools may not use it.
const ReservedPrefix = "vargate_"

// Tool is one governed tool: what an agent sees in tools/list and the
// connector that runs it.
type Tool struct {
	Name        string
	Title       string
	Description string
	// Schema is the JSON Schema (2020-12) of the arguments, an object.
	Schema *jsonschema.Schema
	// ReadOnly says the tool does not change anything outside the gateway.
	ReadOnly bool
	// Tenant is set for a tool declared by a tenant.
	Tenant bool
	// Summary describes a call in a few words for people ("send an e-mail
	// to bob@example.com"); optional.
	Summary   func(args json.RawMessage) string
	Connector Connector
	// Upstream is set for a tool served by an upstream MCP server (a
	// Source): the upstream's name. The policy input carries it.
	Upstream string
	// Annotations are an upstream tool's MCP annotations as pinned (JSON
	// of mcp.ToolAnnotations); nil for other tools.
	Annotations json.RawMessage
	// Version identifies the definition of a tool from a Source (its
	// digest): two sets whose tools have the same names and versions are
	// the same.
	Version string

	resolved *jsonschema.Resolved
}

// NewTool returns a tool with its schema resolved for validation.
func NewTool(t Tool) (*Tool, error) {
	if t.Schema == nil || t.Schema.Type != "object" {
		return nil, fmt.Errorf("tool %s: the input schema must be an object schema", t.Name)
	}
	if t.Connector == nil {
		return nil, fmt.Errorf("tool %s: no connector", t.Name)
	}
	r, err := t.Schema.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: resolve input schema: %w", t.Name, err)
	}
	t.resolved = r
	return &t, nil
}

// Validate checks the call's arguments against the tool's schema.
// Failures are KindInvalid with a message for the agent.
func (t *Tool) Validate(c *Call) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(c.Args))
	if err := dec.Decode(&v); err != nil {
		return vargate.Invalid("arguments", "not valid JSON")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return vargate.Invalid("arguments", "must be a JSON object")
	}
	if err := t.resolved.Validate(m); err != nil {
		return vargate.Invalid("arguments", "%s", schemaMessage(err))
	}
	return nil
}

// ValidateValue is Validate for arguments already decoded (numbers as
// json.Number or float64), so that they are not parsed again.
func (t *Tool) ValidateValue(args map[string]any) error {
	v, _ := schemaView(args)
	if err := t.resolved.Validate(v); err != nil {
		return vargate.Invalid("arguments", "%s", schemaMessage(err))
	}
	return nil
}

// schemaView returns v with json.Numbers as float64, the form the schema
// validator types numbers by, copying only the containers that change.
func schemaView(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return v, false
		}
		return f, true
	case []any:
		var cp []any
		for i, e := range x {
			if r, ok := schemaView(e); ok {
				if cp == nil {
					cp = append([]any(nil), x...)
				}
				cp[i] = r
			}
		}
		if cp != nil {
			return cp, true
		}
	case map[string]any:
		var cp map[string]any
		for k, e := range x {
			if r, ok := schemaView(e); ok {
				if cp == nil {
					cp = make(map[string]any, len(x))
					for k2, e2 := range x {
						cp[k2] = e2
					}
				}
				cp[k] = r
			}
		}
		if cp != nil {
			return cp, true
		}
	}
	return v, false
}

// Precheck runs the connector's own checks of a schema-valid call
// (Validator), if it has any: addresses that must parse, a host that must
// be allowed. Failures are KindInvalid with a message for the agent.
func (t *Tool) Precheck(c *Call) error {
	if val, ok := t.Connector.(Validator); ok {
		return val.Validate(c)
	}
	return nil
}

// schemaMessage shortens a jsonschema validation error: it names the
// failing keyword and property but never repeats a long value.
func schemaMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "validating root: ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// Connector carries out a call that was allowed.
type Connector interface {
	Call(ctx context.Context, c *Call) (Result, error)
}

// Validator is implemented by connectors with checks beyond the schema,
// run after the policy allowed a call or sent it to a human (and again by
// Call, since an approved call runs later, under the configuration of
// that time).
type Validator interface {
	Validate(c *Call) error
}

// ConnectorFunc adapts a function to Connector.
type ConnectorFunc func(ctx context.Context, c *Call) (Result, error)

// Call implements Connector.
func (f ConnectorFunc) Call(ctx context.Context, c *Call) (Result, error) { return f(ctx, c) }

// Call is one tool call as a connector sees it.
type Call struct {
	TenantID  string
	AgentID   string
	SessionID string
	// ActionID identifies the call in the audit trail; credentials are
	// used for it.
	ActionID string
	// Actor is the key or session token that made the call.
	Actor string
	Tool  string
	// Args is the JSON object of arguments, already schema-valid.
	Args json.RawMessage
	// AllowedDomains are the hosts vargate_http_request may reach: the
	// agent configuration's governance_profile.allowed_domains.
	AllowedDomains []string

	// input is the typed input a connector decoded from Args (in its
	// Validate), kept so that its Call does not decode again.
	input any

	// released holds the forms of every credential value released for
	// this call, scrubbed from its result and error.
	released *scrubber
}

// inputOf returns the call's arguments decoded into T, decoding them
// once per call: a connector's Validate and Call share the result.
func inputOf[T any](c *Call) (T, error) {
	if in, ok := c.input.(T); ok {
		return in, nil
	}
	var in T
	if err := decodeArgs(c.Args, &in); err != nil {
		return in, err
	}
	c.input = in
	return in, nil
}

// purpose is why a credential is used for this call, and where it goes
// (host, or "" for the built-in connector the credential is bound to).
func (c *Call) purpose(host string) vault.Purpose {
	actor := c.AgentID
	if actor == "" {
		actor = c.Actor
	}
	return vault.Purpose{ActionID: c.ActionID, SessionID: c.SessionID, Actor: actor, Host: host}
}

// remember adds released values to the call's scrubber.
func (c *Call) remember(values ...string) {
	if c.released == nil {
		c.released = &scrubber{}
	}
	c.released.add(values...)
}

// scrub removes every value released for the call from a connector's
// result and error; every connector that uses a credential returns
// through it.
func (c *Call) scrub(res Result, err error) (Result, error) {
	return c.released.result(res, err)
}

// Result is what a connector returns: Structured becomes the MCP result's
// structuredContent and, as JSON, its text (unless Text is set).
type Result struct {
	Structured json.RawMessage
	Text       string
	// IsError marks a result that reports a failure of the target (an
	// HTTP tool answering 500, say) rather than an answer.
	IsError bool
}

// JSONResult marshals v into a Result.
func JSONResult(v any) (Result, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Result{}, fmt.Errorf("encode result: %w", err)
	}
	return Result{Structured: b}, nil
}

// Credentials releases a tenant's credential for one use (vault.Vault).
type Credentials interface {
	Use(ctx context.Context, tenantID, toolID, name string, p vault.Purpose) (vault.Secret, error)
}

// Auditor appends to the audit trail (audit.Log).
type Auditor interface {
	Append(ctx context.Context, rec audit.Record) (audit.Record, error)
}

// Failed returns an error for a call the target could not carry out; the
// message is shown to the agent, err goes only to the log.
func Failed(err error, format string, args ...any) error {
	return vargate.Wrap(vargate.KindUpstream, err, format, args...)
}

// errNoCredential says a tool needs a credential the tenant has not
// registered.
func errNoCredential(toolID string) error {
	return vargate.Errorf(vargate.KindUnavailable, "no credential is registered for %s: register one with tool_id %q", toolID, toolID)
}

// useCredential releases the tenant's credential for toolID, to be sent
// to host ("" for the built-in connector named by toolID), translating
// "not found" into a message that says what to register. The value is
// remembered, so that the call's result is scrubbed of it.
func useCredential(ctx context.Context, creds Credentials, c *Call, toolID, name, host string) (vault.Secret, error) {
	if creds == nil {
		return vault.Secret{}, errNoCredential(toolID)
	}
	s, err := creds.Use(ctx, c.TenantID, toolID, name, c.purpose(host))
	if vargate.IsKind(err, vargate.KindNotFound) {
		return vault.Secret{}, errNoCredential(toolID)
	}
	if err != nil {
		return s, err
	}
	c.remember(string(s.Reveal()))
	switch s.Metadata().Type {
	case vault.TypeBasicAuth:
		if b, err := s.BasicAuth(); err == nil {
			c.remember(b.Password, b.Username+":"+b.Password)
		}
	case vault.TypeHeader:
		if h, err := s.Header(); err == nil {
			c.remember(h.Value)
		}
	case vault.TypeSMTP:
		if m, err := s.SMTP(); err == nil {
			c.remember(m.Password)
		}
	case vault.TypeDatabaseURL:
		c.remember(databasePassword(string(s.Reveal())))
	}
	return s, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidName reports whether name is acceptable as a tool name: 1–64 lower
// case letters, digits and '_', starting with a letter.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// schemaFor infers the JSON Schema of an input type and lets edit adjust
// it. It panics on a type that has no schema: inputs are fixed at compile
// time.
func schemaFor[T any](edit func(s *jsonschema.Schema)) *jsonschema.Schema {
	s, err := jsonschema.For[T](nil)
	if err != nil {
		panic(err)
	}
	if edit != nil {
		edit(s)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// decodeArgs unmarshals schema-valid arguments into an input struct.
func decodeArgs(args json.RawMessage, v any) error {
	if err := json.Unmarshal(args, v); err != nil {
		return vargate.Invalid("arguments", "%v", err)
	}
	return nil
}
