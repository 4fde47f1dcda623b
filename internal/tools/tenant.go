package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/vault"
)

// Limits on tenant tool definitions.
const (
	MaxTenantTools       = 200
	MaxDescriptionBytes  = 2048
	MaxSchemaBytes       = 64 << 10
	MaxTemplateBodyBytes = 64 << 10
)

// TenantTool is an HTTP tool a tenant declared: its name, description and
// input schema as agents see them, the request each call makes, and the
// credential that request carries.
type TenantTool struct {
	TenantID    string          `json:"tenant_id"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
	Request     RequestTemplate `json:"request"`
	Credential  *CredentialRef  `json:"credential,omitempty"`
	// ReadOnly is the tool's readOnlyHint for clients.
	ReadOnly  bool      `json:"read_only"`
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy is the API key that declared it.
	CreatedBy string `json:"created_by"`
}

// RequestTemplate is the request a tenant tool makes. In URL (path and
// query), Query and Headers, "{name}" is replaced by the argument name
// (escaped for where it stands; absent optional arguments become empty,
// and an empty query parameter is left out). Body is a JSON template: a
// string that is exactly "{name}" becomes the argument's JSON value, other
// strings are interpolated. Without a Body, POST, PUT and PATCH send the
// arguments object as JSON. The scheme and host of URL are fixed.
type RequestTemplate struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Query   map[string]string `json:"query,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// CredentialRef names the tenant credential (registered through
// /credentials) a tenant tool's request carries, and where: In is
// "header" (in header Param; a header credential brings its own name),
// "query" (in query parameter Param), "bearer" (Authorization: Bearer) or
// "basic" (a basic_auth credential).
type CredentialRef struct {
	ToolID string `json:"tool_id"`
	Name   string `json:"name,omitempty"`
	In     string `json:"in"`
	Param  string `json:"param,omitempty"`
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// Check validates a definition and returns its compiled schema. Errors
// are KindInvalid naming the field.
func (d *TenantTool) Check() (*jsonschema.Schema, error) {
	switch {
	case !ValidName(d.Name):
		return nil, vargate.Invalid("name", "must be 1-64 lower-case letters, digits or '_', starting with a letter")
	case strings.HasPrefix(d.Name, ReservedPrefix):
		return nil, vargate.Invalid("name", "the prefix %q is reserved for built-in tools", ReservedPrefix)
	case strings.TrimSpace(d.Description) == "":
		return nil, vargate.Invalid("description", "required")
	case len(d.Description) > MaxDescriptionBytes:
		return nil, vargate.Invalid("description", "at most %d bytes", MaxDescriptionBytes)
	case len(d.InputSchema) == 0:
		return nil, vargate.Invalid("input_schema", "required: a JSON Schema of type object")
	case len(d.InputSchema) > MaxSchemaBytes:
		return nil, vargate.Invalid("input_schema", "at most %d bytes", MaxSchemaBytes)
	}
	if bytes.Contains(d.InputSchema, []byte(`"x-mcp-header"`)) {
		// Header-bound arguments would need every client to send them as
		// Mcp-Param headers too; the gateway does not offer that.
		return nil, vargate.Invalid("input_schema", "x-mcp-header annotations are not supported")
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(d.InputSchema, &s); err != nil {
		return nil, vargate.Invalid("input_schema", "not a JSON Schema: %v", err)
	}
	if s.Type != "object" {
		return nil, vargate.Invalid("input_schema", `must have "type": "object"`)
	}
	if _, err := s.Resolve(nil); err != nil {
		return nil, vargate.Invalid("input_schema", "%v", err)
	}
	props := map[string]bool{}
	for k := range s.Properties {
		props[k] = true
	}
	r := &d.Request
	r.Method = strings.ToUpper(r.Method)
	if r.Method == "" {
		r.Method = "GET"
	}
	if !slices.Contains(methods, r.Method) {
		return nil, vargate.Invalid("request.method", "must be one of %s", strings.Join(methods, ", "))
	}
	if err := checkURLTemplate(r.URL); err != nil {
		return nil, err
	}
	check := func(field, tmpl string) error {
		for _, m := range placeholderRE.FindAllStringSubmatch(tmpl, -1) {
			if !props[m[1]] {
				return vargate.Invalid(field, "placeholder {%s} is not a property of input_schema", m[1])
			}
		}
		return nil
	}
	if err := check("request.url", r.URL); err != nil {
		return nil, err
	}
	for k, v := range r.Query {
		if k == "" {
			return nil, vargate.Invalid("request.query", "empty parameter name")
		}
		if err := check("request.query."+k, v); err != nil {
			return nil, err
		}
	}
	for k, v := range r.Headers {
		if !validHeaderName(k) || vault.ForbiddenHeader(k) {
			return nil, vargate.Invalid("request.headers", "%q cannot be set", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, vargate.Invalid("request.headers."+k, "must be one line")
		}
		if err := check("request.headers."+k, v); err != nil {
			return nil, err
		}
	}
	if len(r.Body) > 0 {
		if len(r.Body) > MaxTemplateBodyBytes {
			return nil, vargate.Invalid("request.body", "at most %d bytes", MaxTemplateBodyBytes)
		}
		if !json.Valid(r.Body) {
			return nil, vargate.Invalid("request.body", "must be JSON")
		}
		if r.Method == "GET" {
			return nil, vargate.Invalid("request.body", "a GET request has no body")
		}
		if err := check("request.body", string(r.Body)); err != nil {
			return nil, err
		}
	}
	if c := d.Credential; c != nil {
		if c.ToolID == "" {
			return nil, vargate.Invalid("credential.tool_id", "required")
		}
		// A credential is bound to the host it was registered for; the
		// tool's URL must go there, and only over https.
		u, _ := url.Parse(placeholderRE.ReplaceAllString(r.URL, "x"))
		if want := vault.HostToolID(u.Hostname()); c.ToolID != want {
			return nil, vargate.Invalid("credential.tool_id", "must be %q: a tenant tool may carry only a credential bound to the host of request.url", want)
		}
		if u.Scheme != "https" {
			return nil, vargate.Invalid("request.url", "must start with https:// when the tool sends a credential")
		}
		switch c.In {
		case InHeader, InBearer, InBasic:
		case InQuery:
			if c.Param == "" {
				return nil, vargate.Invalid("credential.param", "required for in=query")
			}
		default:
			return nil, vargate.Invalid("credential.in", "must be header, query, bearer or basic")
		}
		if c.In == InHeader && c.Param != "" && (!validHeaderName(c.Param) || vault.ForbiddenHeader(c.Param)) {
			return nil, vargate.Invalid("credential.param", "must be a header name other than Host, Connection, Upgrade, TE, Proxy-Authorization, Content-Length and the like")
		}
	}
	return &s, nil
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// checkURLTemplate requires an absolute http(s) URL whose scheme and host
// contain no placeholder.
func checkURLTemplate(tmpl string) error {
	rest, ok := strings.CutPrefix(tmpl, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(tmpl, "http://"); !ok {
			return vargate.Invalid("request.url", "must start with https:// or http://")
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	host, _, _ = strings.Cut(host, "?")
	if host == "" || strings.ContainsAny(host, "{}@") {
		return vargate.Invalid("request.url", "the host must be fixed (no placeholders or credentials)")
	}
	u, err := url.Parse(placeholderRE.ReplaceAllString(tmpl, "x"))
	if err != nil {
		return vargate.Invalid("request.url", "not a valid URL")
	}
	if dotSegment(u.EscapedPath()) {
		return vargate.Invalid("request.url", "the path must not contain '.' or '..' segments")
	}
	return nil
}

// dotSegment reports whether an escaped URL path has a "." or ".."
// segment, also when percent-encoded: servers resolve them, so they would
// take a request out of the path its template fixes.
func dotSegment(escaped string) bool {
	for seg := range strings.SplitSeq(escaped, "/") {
		if p, err := url.PathUnescape(seg); err == nil {
			seg = p
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// TenantConnector runs a tenant tool's request.
type TenantConnector struct {
	Def    TenantTool
	Runner *HTTPRunner
}

// newTenantTool compiles a stored definition into a Tool.
func newTenantTool(d TenantTool, runner *HTTPRunner) (*Tool, error) {
	s, err := d.Check()
	if err != nil {
		return nil, err
	}
	return NewTool(Tool{
		Name: d.Name, Description: d.Description, Schema: s, ReadOnly: d.ReadOnly, Tenant: true,
		Summary:   func(json.RawMessage) string { return "call " + d.Name },
		Connector: &TenantConnector{Def: d, Runner: runner},
	})
}

// Call implements Connector: it runs the call and scrubs the result and
// error of every credential value released for it.
func (t *TenantConnector) Call(ctx context.Context, c *Call) (Result, error) {
	return c.scrub(t.call(ctx, c))
}

func (t *TenantConnector) call(ctx context.Context, c *Call) (Result, error) {
	var args map[string]json.RawMessage
	if err := json.Unmarshal(c.Args, &args); err != nil {
		return Result{}, vargate.Invalid("arguments", "must be a JSON object")
	}
	o, err := render(t.Def.Request, args, c.Args)
	if err != nil {
		return Result{}, err
	}
	if ref := t.Def.Credential; ref != nil {
		s, err := useCredential(ctx, t.Runner.Credentials, c, ref.ToolID, ref.Name, o.url.Hostname())
		if err != nil {
			return Result{}, err
		}
		inj, err := inject(s, ref.In, ref.Param)
		s.Wipe()
		if err != nil {
			return Result{}, err
		}
		o.cred = &inj
		o.scrub = c.released
	}
	host := o.url.Host
	o.redirectOK = func(u *url.URL) bool {
		return strings.EqualFold(u.Host, host) && (u.Scheme == "https" || u.Scheme == "http")
	}
	res, err := t.Runner.do(ctx, o)
	if err != nil {
		return res, err
	}
	var hr struct {
		Status int `json:"status"`
	}
	_ = json.Unmarshal(res.Structured, &hr)
	res.IsError = hr.Status >= 400
	return res, nil
}

// render fills a request template with the arguments.
func render(r RequestTemplate, args map[string]json.RawMessage, raw json.RawMessage) (outbound, error) {
	str := func(name string) string {
		v, ok := args[name]
		if !ok || string(v) == "null" {
			return ""
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, v)
		return buf.String()
	}
	pathPart, queryPart, hasQuery := strings.Cut(r.URL, "?")
	filled := placeholderRE.ReplaceAllStringFunc(pathPart, func(m string) string {
		return url.PathEscape(str(m[1 : len(m)-1]))
	})
	if hasQuery {
		filled += "?" + placeholderRE.ReplaceAllStringFunc(queryPart, func(m string) string {
			return url.QueryEscape(str(m[1 : len(m)-1]))
		})
	}
	u, err := url.Parse(filled)
	if err != nil {
		return outbound{}, vargate.Invalid("arguments", "the arguments do not make a valid URL")
	}
	if dotSegment(u.EscapedPath()) {
		return outbound{}, vargate.Invalid("arguments", "an argument makes a '.' or '..' path segment")
	}
	if len(r.Query) > 0 {
		q := u.Query()
		for k, v := range r.Query {
			if val := placeholderRE.ReplaceAllStringFunc(v, func(m string) string { return str(m[1 : len(m)-1]) }); val != "" {
				q.Set(k, val)
			}
		}
		u.RawQuery = q.Encode()
	}
	headers := map[string]string{}
	for k, v := range r.Headers {
		val := placeholderRE.ReplaceAllStringFunc(v, func(m string) string { return str(m[1 : len(m)-1]) })
		if strings.ContainsAny(val, "\r\n\x00") {
			return outbound{}, vargate.Invalid("arguments", "header %s would not be one line", k)
		}
		headers[k] = val
	}
	o := outbound{method: r.Method, url: u, headers: headers}
	switch {
	case len(r.Body) > 0:
		var tmpl any
		if err := json.Unmarshal(r.Body, &tmpl); err != nil {
			return outbound{}, fmt.Errorf("tenant tool body template: %w", err)
		}
		b, err := json.Marshal(fillBody(tmpl, args, str))
		if err != nil {
			return outbound{}, fmt.Errorf("render body: %w", err)
		}
		o.body = b
	case r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH":
		o.body = raw
	}
	if o.body != nil {
		if _, ok := headers["Content-Type"]; !ok {
			headers["Content-Type"] = "application/json"
		}
	}
	return o, nil
}

// fillBody replaces placeholders in a decoded JSON template.
func fillBody(v any, args map[string]json.RawMessage, str func(string) string) any {
	switch x := v.(type) {
	case string:
		if m := placeholderRE.FindStringSubmatch(x); m != nil && m[0] == x {
			if a, ok := args[m[1]]; ok {
				return json.RawMessage(a)
			}
			return nil
		}
		return placeholderRE.ReplaceAllStringFunc(x, func(m string) string { return str(m[1 : len(m)-1]) })
	case []any:
		for i, e := range x {
			x[i] = fillBody(e, args, str)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = fillBody(e, args, str)
		}
		return x
	}
	return v
}
