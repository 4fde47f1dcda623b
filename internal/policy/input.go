package policy

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/pii"
)

// Input is the document every decision is made from (`input` in Rego). It
// is recorded with each governed call so that the call can be replayed
// against any policy version, so its shape is kept small and stable: add
// fields, never rename or remove them. docs/POLICY.md shows an example.
type Input struct {
	Tenant  Tenant        `json:"tenant"`
	Agent   Agent         `json:"agent"`
	Session Session       `json:"session"`
	Call    Call          `json:"call"`
	PII     []pii.Finding `json:"pii"`
	// Time is when the call was made. Engine.Decide fills it in when zero.
	Time time.Time `json:"time"`
}

// MarshalJSON writes the input with empty lists as [] rather than null, the
// same document the engine evaluates.
func (in Input) MarshalJSON() ([]byte, error) {
	type plain Input
	if in.PII == nil {
		in.PII = []pii.Finding{}
	}
	return json.Marshal(plain(in))
}

// Tenant identifies the tenant the call belongs to.
type Tenant struct {
	ID string `json:"id"`
}

// Agent is the agent configuration that governs the call, as set in the
// guide's agent config.
type Agent struct {
	ID string `json:"id"`
	// AllowedTools lists the tool names the agent may call; any other tool
	// is denied.
	AllowedTools []string `json:"allowed_tools"`
	// RequireHumanApproval lists glob patterns ("vargate_send_*"); a tool
	// that matches one needs approval.
	RequireHumanApproval []string          `json:"require_human_approval"`
	GovernanceProfile    GovernanceProfile `json:"governance_profile"`
	Delegation           Delegation        `json:"delegation"`

	// prepared is set by Prepare: the agent's Rego value and its RFC
	// 8785 JSON, built once for every input that copies this Agent.
	prepared *preparedAgent
}

type preparedAgent struct {
	term *ast.Term
	json []byte
	// tenant is the input's tenant object for the last tenant ID seen
	// with this agent (its configuration belongs to one tenant), made on
	// first use.
	tenant atomic.Pointer[tenantTerm]
}

type tenantTerm struct {
	id   string
	term *ast.Term
}

// Prepare builds the agent's Rego value and canonical JSON once, so that
// the inputs of many calls of one agent configuration (which copy this
// Agent) share them instead of building them per decision and record. No
// field may change after Prepare; a copy whose fields are changed must be
// made from an Agent that was not prepared.
func (a *Agent) Prepare() {
	a.prepared = nil
	a.prepared = &preparedAgent{term: a.term(), json: a.appendCanonical(nil)}
}

// MarshalJSON writes empty lists as [] rather than null.
func (a Agent) MarshalJSON() ([]byte, error) {
	type plain Agent
	if a.AllowedTools == nil {
		a.AllowedTools = []string{}
	}
	if a.RequireHumanApproval == nil {
		a.RequireHumanApproval = []string{}
	}
	return json.Marshal(plain(a))
}

// GovernanceProfile is the agent config's governance_profile.
type GovernanceProfile struct {
	// RiskLevel is "strict", "standard" or "permissive". Empty means
	// standard; any other value is treated as strict.
	RiskLevel string `json:"risk_level"`
	// PIIDetection makes the policy act on personal data found in the
	// arguments. Secrets are denied whatever its value.
	PIIDetection bool `json:"pii_detection"`
}

// Delegation places the agent in a chain of sub-agents.
type Delegation struct {
	// Depth is 0 for a root agent, 1 for its sub-agent, and so on.
	Depth int `json:"depth"`
	// MaxDepth is the config's max_delegation_depth.
	MaxDepth int `json:"max_depth"`
}

// Session is what the gateway knows of the session so far, not counting
// the call being decided.
type Session struct {
	ID         string  `json:"id"`
	AgeSeconds float64 `json:"age_seconds"`
	Calls      int     `json:"calls"`
	Denials    int     `json:"denials"`
	// AnomalyScore is between 0 (nothing unusual) and 1.
	AnomalyScore float64 `json:"anomaly_score"`
}

// Call is the tool call being decided.
type Call struct {
	Tool string `json:"tool"`
	// Arguments is the JSON object of the call's arguments.
	Arguments json.RawMessage `json:"arguments"`
	// ArgumentsDigest is Digest(Arguments).
	ArgumentsDigest string `json:"arguments_digest"`
	// Upstream is the name of the upstream MCP server that serves the
	// tool; empty for Vargate's own tools.
	Upstream string `json:"upstream,omitempty"`
	// Annotations are the upstream tool's MCP annotations, with the
	// protocol's defaults filled in; nil for Vargate's own tools.
	Annotations *Annotations `json:"annotations,omitempty"`

	parsed *parsedArgs // set by NewCall, so the arguments are parsed once
}

// Annotations are an MCP tool's behaviour hints (untrusted: they are what
// the upstream says of its tool), with the protocol's defaults filled in.
type Annotations struct {
	ReadOnly    bool `json:"read_only_hint"`
	Destructive bool `json:"destructive_hint"`
	Idempotent  bool `json:"idempotent_hint"`
	OpenWorld   bool `json:"open_world_hint"`
}

type parsedArgs struct {
	raw   []byte
	value ast.Value
}

// NewCall returns the Call for a tool and its arguments, with the digest
// filled in, and the personal data and secrets found in the arguments
// (the Input's PII). It parses the arguments once for all three and for
// the evaluation. Empty arguments are taken as {}.
func NewCall(tool string, args json.RawMessage) (Call, []pii.Finding, error) {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	v, err := pii.Decode(args)
	if err != nil {
		return Call{}, nil, vargate.Invalid("arguments", "arguments are not valid JSON: %v", err)
	}
	value, err := ast.InterfaceToValue(v)
	if err != nil {
		return Call{}, nil, vargate.Invalid("arguments", "arguments: %v", err)
	}
	raw := bytes.Clone(args)
	c := Call{
		Tool:            tool,
		Arguments:       raw,
		ArgumentsDigest: audit.Digest(args),
		parsed:          &parsedArgs{raw: raw, value: value},
	}
	return c, pii.ScanValue(v), nil
}

// NewDecodedCall returns the Call for arguments the caller has decoded
// already (v, from a decoder that keeps numbers as json.Number) with
// their digest, so that nothing is parsed twice. raw must be the JSON v
// was decoded from.
func NewDecodedCall(tool string, raw json.RawMessage, v any, digest string) (Call, error) {
	value, err := ast.InterfaceToValue(v)
	if err != nil {
		return Call{}, vargate.Invalid("arguments", "arguments: %v", err)
	}
	return Call{
		Tool: tool, Arguments: raw, ArgumentsDigest: digest,
		parsed: &parsedArgs{raw: raw, value: value},
	}, nil
}

// Digest is audit.Digest: the one digest of a JSON document (RFC 8785,
// SHA-256) that records, policies and the approval queue compare.
func Digest(args json.RawMessage) string { return audit.Digest(args) }

// arguments returns the call's arguments as a Rego value, from the copy
// parsed by NewCall when the arguments have not changed since.
func (c *Call) arguments() (ast.Value, error) {
	if p := c.parsed; p != nil && bytes.Equal(p.raw, c.Arguments) {
		return p.value, nil
	}
	if len(bytes.TrimSpace(c.Arguments)) == 0 {
		return ast.NewObject(), nil
	}
	v, err := pii.Decode(c.Arguments)
	if err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(v)
}

// value returns the input as a Rego value, built directly rather than
// through a JSON round trip.
func (in *Input) value() (ast.Value, error) {
	args, err := in.Call.arguments()
	if err != nil {
		return nil, err
	}
	// The terms of one input are allocated together.
	t := new(inputTerms)
	pii := emptyArray
	if len(in.PII) > 0 {
		findings := make([]*ast.Term, len(in.PII))
		for i, f := range in.PII {
			findings[i] = ast.ObjectTerm(
				item(keyKind, ast.StringTerm(string(f.Kind))),
				item(keyDetector, ast.StringTerm(f.Detector)),
				item(keyPath, ast.StringTerm(f.Path)),
				item(keyField, ast.StringTerm(f.Field)),
			)
		}
		pii = ast.ArrayTerm(findings...)
	}
	t.sessionID.Value = ast.String(in.Session.ID)
	t.ageSeconds.Value = floatValue(in.Session.AgeSeconds)
	t.anomalyScore.Value = floatValue(in.Session.AnomalyScore)
	t.session.Value = ast.NewObject(
		item(keyID, &t.sessionID),
		item(keyAgeSeconds, &t.ageSeconds),
		item(keyCalls, ast.IntNumberTerm(in.Session.Calls)),
		item(keyDenials, ast.IntNumberTerm(in.Session.Denials)),
		item(keyAnomalyScore, &t.anomalyScore),
	)
	t.time.Value = ast.String(in.Time.UTC().Format(time.RFC3339Nano))
	return ast.NewObject(
		item(keyTenant, in.tenantTerm()),
		item(keyAgent, in.Agent.term()),
		item(keySession, &t.session),
		item(keyCall, in.Call.term(t, args)),
		item(keyPII, pii),
		item(keyTime, &t.time),
	), nil
}

// inputTerms are the terms an input is made of, but for the shared ones
// and the arguments' and findings'.
type inputTerms struct {
	session, sessionID, ageSeconds, anomalyScore, time ast.Term
	call, tool, arguments, digest, upstream            ast.Term
}

// emptyArray is the input's pii when there are no findings (terms are
// never modified).
var emptyArray = ast.ArrayTerm()

// tenantTerm is the tenant as a Rego object, shared by the inputs of a
// prepared agent.
func (in *Input) tenantTerm() *ast.Term {
	p := in.Agent.prepared
	if p == nil {
		return ast.ObjectTerm(item(keyID, ast.StringTerm(in.Tenant.ID)))
	}
	if t := p.tenant.Load(); t != nil && t.id == in.Tenant.ID {
		return t.term
	}
	t := &tenantTerm{id: in.Tenant.ID, term: ast.ObjectTerm(item(keyID, ast.StringTerm(in.Tenant.ID)))}
	p.tenant.Store(t)
	return t.term
}

// floatValue is the value of ast.FloatNumberTerm(f), taken from the
// interned term of a small whole number (the same number: FormatFloat
// writes 3.0 as "3", and -0 as "-0", which is left out).
func floatValue(f float64) ast.Value {
	if f >= 0 && f <= 512 && f == math.Trunc(f) && !math.Signbit(f) {
		return ast.InternedTerm(int(f)).Value
	}
	return ast.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

// term is the agent as a Rego object.
func (a *Agent) term() *ast.Term {
	if p := a.prepared; p != nil {
		return p.term
	}
	return ast.ObjectTerm(
		item(keyID, ast.StringTerm(a.ID)),
		item(keyAllowedTools, stringArray(a.AllowedTools)),
		item(keyRequireHumanApproval, stringArray(a.RequireHumanApproval)),
		item(keyGovernanceProfile, ast.ObjectTerm(
			item(keyRiskLevel, ast.StringTerm(a.GovernanceProfile.RiskLevel)),
			item(keyPIIDetection, ast.BooleanTerm(a.GovernanceProfile.PIIDetection)),
		)),
		item(keyDelegation, ast.ObjectTerm(
			item(keyDepth, ast.IntNumberTerm(a.Delegation.Depth)),
			item(keyMaxDepth, ast.IntNumberTerm(a.Delegation.MaxDepth)),
		)),
	)
}

// term is the call as a Rego object; upstream and annotations appear only
// for an upstream tool.
func (c *Call) term(t *inputTerms, args ast.Value) *ast.Term {
	t.tool.Value = ast.String(c.Tool)
	t.arguments.Value = args
	t.digest.Value = ast.String(c.ArgumentsDigest)
	var buf [5][2]*ast.Term
	items := append(buf[:0],
		item(keyTool, &t.tool),
		item(keyArguments, &t.arguments),
		item(keyArgumentsDigest, &t.digest),
	)
	if c.Upstream != "" {
		t.upstream.Value = ast.String(c.Upstream)
		items = append(items, item(keyUpstream, &t.upstream))
	}
	if a := c.Annotations; a != nil {
		items = append(items, item(keyAnnotations, a.term()))
	}
	t.call.Value = ast.NewObject(items...)
	return &t.call
}

// term is the annotations as a Rego object: one of sixteen, made once.
func (a *Annotations) term() *ast.Term {
	i := 0
	for bit, set := range [4]bool{a.ReadOnly, a.Destructive, a.Idempotent, a.OpenWorld} {
		if set {
			i |= 1 << bit
		}
	}
	return annotationTerms()[i]
}

var annotationTerms = sync.OnceValue(func() (ts [16]*ast.Term) {
	for i := range ts {
		ts[i] = ast.ObjectTerm(
			item(keyReadOnlyHint, ast.InternedTerm(i&1 != 0)),
			item(keyDestructiveHint, ast.InternedTerm(i&2 != 0)),
			item(keyIdempotentHint, ast.InternedTerm(i&4 != 0)),
			item(keyOpenWorldHint, ast.InternedTerm(i&8 != 0)),
		)
	}
	return ts
})

func item(k, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{k, v} }

// The keys of the input document, made once: terms are never modified.
var (
	keyAgeSeconds           = ast.StringTerm("age_seconds")
	keyAgent                = ast.StringTerm("agent")
	keyAllowedTools         = ast.StringTerm("allowed_tools")
	keyAnnotations          = ast.StringTerm("annotations")
	keyDestructiveHint      = ast.StringTerm("destructive_hint")
	keyIdempotentHint       = ast.StringTerm("idempotent_hint")
	keyOpenWorldHint        = ast.StringTerm("open_world_hint")
	keyReadOnlyHint         = ast.StringTerm("read_only_hint")
	keyUpstream             = ast.StringTerm("upstream")
	keyAnomalyScore         = ast.StringTerm("anomaly_score")
	keyArguments            = ast.StringTerm("arguments")
	keyArgumentsDigest      = ast.StringTerm("arguments_digest")
	keyCall                 = ast.StringTerm("call")
	keyCalls                = ast.StringTerm("calls")
	keyDelegation           = ast.StringTerm("delegation")
	keyDenials              = ast.StringTerm("denials")
	keyDepth                = ast.StringTerm("depth")
	keyDetector             = ast.StringTerm("detector")
	keyField                = ast.StringTerm("field")
	keyGovernanceProfile    = ast.StringTerm("governance_profile")
	keyID                   = ast.StringTerm("id")
	keyKind                 = ast.StringTerm("kind")
	keyMaxDepth             = ast.StringTerm("max_depth")
	keyPath                 = ast.StringTerm("path")
	keyPII                  = ast.StringTerm("pii")
	keyPIIDetection         = ast.StringTerm("pii_detection")
	keyRequireHumanApproval = ast.StringTerm("require_human_approval")
	keyRiskLevel            = ast.StringTerm("risk_level")
	keySession              = ast.StringTerm("session")
	keyTenant               = ast.StringTerm("tenant")
	keyTime                 = ast.StringTerm("time")
	keyTool                 = ast.StringTerm("tool")
)

func stringArray(ss []string) *ast.Term {
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(ts...)
}
