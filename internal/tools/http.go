package tools

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/vault"
)

// Defaults for HTTPRunner's zero fields.
const (
	DefaultMaxResponseBytes = 256 << 10
	DefaultHTTPTimeout      = 30 * time.Second
	maxRedirects            = 5
)

// HTTPRunner performs the HTTP requests of vargate_http_request and of
// tenant tools: through the guard, with the credential injected, the
// response bounded in size and time.
type HTTPRunner struct {
	Guard       *netguard.Guard
	Credentials CredentialLister
	// MaxResponseBytes caps the body returned to the agent.
	MaxResponseBytes int
	Timeout          time.Duration
	// TLSConfig, if set, is the TLS configuration of outbound requests
	// (a private CA's roots, or a test server's); nil is Go's default.
	TLSConfig *tls.Config

	once      sync.Once
	transport http.RoundTripper
}

// CredentialLister is Credentials plus listing a tool's credentials.
type CredentialLister interface {
	Credentials
	List(ctx context.Context, tenantID string, f vault.Filter) ([]vault.Metadata, error)
}

// NewHTTPRunner returns a runner whose connections go through guard.
func NewHTTPRunner(guard *netguard.Guard, creds CredentialLister) *HTTPRunner {
	return &HTTPRunner{Guard: guard, Credentials: creds}
}

// roundTripper returns the runner's one transport (pooled connections,
// every dial through the guard).
func (h *HTTPRunner) roundTripper() http.RoundTripper {
	h.once.Do(func() {
		t := h.Guard.Transport()
		t.TLSClientConfig = h.TLSConfig
		h.transport = t
	})
	return h.transport
}

// HTTPResponse is the structured result of an HTTP tool call.
type HTTPResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	// Body is the response body as text (base64 when it is not UTF-8,
	// with BodyEncoding "base64").
	Body         string `json:"body"`
	BodyEncoding string `json:"body_encoding,omitempty"`
	// JSON is the body parsed, when it is JSON.
	JSON      json.RawMessage `json:"json,omitempty"`
	Truncated bool            `json:"truncated"`
}

// injection is how a credential rides on a request.
type injection struct {
	header string // header name, or
	query  string // query parameter name
	value  string
}

// Credential placements for CredentialRef.In.
const (
	InHeader = "header"
	InQuery  = "query"
	InBearer = "bearer"
	InBasic  = "basic"
)

// inject resolves a credential into the header or query parameter that
// carries it.
func inject(s vault.Secret, in, param string) (injection, error) {
	m := s.Metadata()
	switch in {
	case InBasic:
		b, err := s.BasicAuth()
		if err != nil {
			return injection{}, err
		}
		return injection{header: "Authorization", value: "Basic " + base64.StdEncoding.EncodeToString([]byte(b.Username+":"+b.Password))}, nil
	case InBearer:
		return injection{header: "Authorization", value: "Bearer " + string(s.Reveal())}, nil
	case InHeader, InQuery:
		if m.Type == vault.TypeHeader {
			h, err := s.Header()
			if err != nil {
				return injection{}, err
			}
			if in == InHeader && param == "" {
				return injection{header: h.Name, value: h.Value}, nil
			}
			if in == InHeader {
				return injection{header: param, value: h.Value}, nil
			}
			return injection{query: param, value: h.Value}, nil
		}
		switch m.Type {
		case vault.TypeAPIKey, vault.TypeBearerToken, vault.TypeOAuthToken:
		default:
			return injection{}, vargate.Errorf(vargate.KindInvalid, "a %s credential cannot be sent in a %s", m.Type, in)
		}
		if param == "" {
			return injection{}, vargate.Errorf(vargate.KindInvalid, "the credential reference needs a param for %s", in)
		}
		return placed(in, param, string(s.Reveal()))
	}
	return injection{}, vargate.Errorf(vargate.KindInvalid, "unknown credential placement %q", in)
}

// placed puts a value in header or query parameter param, refusing the
// headers no credential may set.
func placed(in, param, value string) (injection, error) {
	if in == InQuery {
		return injection{query: param, value: value}, nil
	}
	if vault.ForbiddenHeader(param) {
		return injection{}, vargate.Errorf(vargate.KindInvalid, "a credential cannot be sent in the %s header", param)
	}
	return injection{header: param, value: value}, nil
}

// byType is the placement of a vargate_http_request credential that does
// not name one: header credentials as themselves, tokens as a bearer,
// basic_auth as Basic, an api_key in X-API-Key.
func byType(s vault.Secret) (injection, error) {
	switch s.Metadata().Type {
	case vault.TypeHeader:
		return inject(s, InHeader, "")
	case vault.TypeBearerToken, vault.TypeOAuthToken:
		return inject(s, InBearer, "")
	case vault.TypeBasicAuth:
		return inject(s, InBasic, "")
	case vault.TypeAPIKey:
		return inject(s, InHeader, "X-API-Key")
	}
	return injection{}, vargate.Errorf(vargate.KindInvalid, "a %s credential cannot be used for HTTP requests", s.Metadata().Type)
}

// outbound is a request ready to send.
type outbound struct {
	method  string
	url     *url.URL
	headers map[string]string
	body    []byte
	cred    *injection
	// scrub removes released credential values from the response body
	// before it is decoded or re-encoded.
	scrub *scrubber
	// redirectOK says whether a redirect to u may be followed.
	redirectOK func(u *url.URL) bool
}

// do sends the request and reads the bounded response.
func (h *HTTPRunner) do(ctx context.Context, o outbound) (Result, error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u := *o.url
	if o.cred != nil && o.cred.query != "" {
		q := u.Query()
		q.Set(o.cred.query, o.cred.value)
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	if o.body != nil {
		body = strings.NewReader(string(o.body))
	}
	req, err := http.NewRequestWithContext(ctx, o.method, u.String(), body)
	if err != nil {
		return Result{}, vargate.Invalid("url", "cannot build the request")
	}
	if o.cred != nil && u.Scheme != "https" {
		return Result{}, vargate.Invalid("url", "a credential is registered for %s: it is sent only over https", u.Hostname())
	}
	for k, v := range o.headers {
		if vault.ForbiddenHeader(k) {
			continue
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "vargate/"+vargate.Version)
	}
	if o.cred != nil && o.cred.header != "" {
		req.Header.Set(o.cred.header, o.cred.value)
	}
	origin := u.Host
	client := &http.Client{
		Transport: h.roundTripper(),
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return errors.New("too many redirects")
			}
			if o.redirectOK != nil && !o.redirectOK(r.URL) {
				return vargate.Errorf(vargate.KindForbidden, "redirect to %s is not allowed", r.URL.Host)
			}
			// A credential is for the host it was registered for only,
			// and never travels over plain http.
			if o.cred != nil && o.cred.header != "" && (!strings.EqualFold(r.URL.Host, origin) || r.URL.Scheme != "https") {
				r.Header.Del(o.cred.header)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the URL, query credential included.
		err = netguard.RedactError(err)
		var ve *vargate.Error
		switch {
		case netguard.IsBlocked(err):
			return Result{}, vargate.Wrap(vargate.KindForbidden, err, "the target address is not allowed (private, loopback or link-local)")
		case errors.As(err, &ve):
			return Result{}, ve
		case errors.Is(err, context.DeadlineExceeded):
			return Result{}, Failed(err, "the request timed out")
		}
		return Result{}, Failed(err, "the request failed")
	}
	defer resp.Body.Close()
	max := h.MaxResponseBytes
	if max <= 0 {
		max = DefaultMaxResponseBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	if err != nil {
		return Result{}, Failed(err, "reading the response failed")
	}
	out := HTTPResponse{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if len(b) > max {
		b, out.Truncated = b[:max], true
	}
	if o.scrub != nil {
		b = o.scrub.bytes(b)
	}
	if utf8.Valid(b) {
		out.Body = string(b)
	} else {
		out.Body, out.BodyEncoding = base64.StdEncoding.EncodeToString(b), "base64"
	}
	if mt, _, _ := mime.ParseMediaType(out.ContentType); !out.Truncated && (mt == "application/json" || strings.HasSuffix(mt, "+json")) && json.Valid(b) {
		out.JSON = b
	}
	return JSONResult(out)
}

// HTTPRequestInput is the arguments of vargate_http_request.
type HTTPRequestInput struct {
	Method  string            `json:"method" jsonschema:"GET, POST, PUT, PATCH, DELETE or HEAD"`
	URL     string            `json:"url" jsonschema:"absolute http(s) URL on one of the agent's allowed domains"`
	Headers map[string]string `json:"headers,omitempty" jsonschema:"request headers; credentials are added by the gateway"`
	Body    string            `json:"body,omitempty" jsonschema:"request body"`
}

// HTTPRequestConnector runs vargate_http_request: a request to a host in
// the agent's allowed_domains, with the tenant's credential for that host
// (tool_id "http:" + host) injected by the gateway.
//
// Credential placement: a credential named "header.NAME" goes in header
// NAME and one named "query.NAME" in query parameter NAME; otherwise by
// type: header credentials as their own header, bearer and OAuth tokens as
// Authorization: Bearer, basic_auth as Basic, api_key in X-API-Key.
type HTTPRequestConnector struct {
	Runner *HTTPRunner
}

// NewHTTPRequestTool returns vargate_http_request over c.
func NewHTTPRequestTool(c *HTTPRequestConnector) *Tool {
	t, err := NewTool(Tool{
		Name:        HTTPRequest,
		Title:       "HTTP request",
		Description: "Call an HTTP API on one of the allowed domains. The gateway adds the organisation's credential for that host; never put secrets in the arguments.",
		Schema: schemaFor[HTTPRequestInput](func(s *jsonschema.Schema) {
			s.Properties["method"].Enum = []any{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
			s.Properties["url"].MaxLength = ptr(8192)
			s.Properties["url"].MinLength = ptr(8)
			s.Properties["headers"].MaxProperties = ptr(50)
			s.Properties["body"].MaxLength = ptr(1 << 20)
		}),
		Summary: func(args json.RawMessage) string {
			var in HTTPRequestInput
			_ = json.Unmarshal(args, &in)
			return "call " + in.Method + " " + in.URL
		},
		Connector: c,
	})
	if err != nil {
		panic(err)
	}
	return t
}

// HostAllowed reports whether host (no port) matches one of the allowed
// domains: an exact name, or "*.example.com" for its subdomains.
func HostAllowed(host string, allowed []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range allowed {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if suffix, ok := strings.CutPrefix(d, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
			continue
		}
		if host == d {
			return true
		}
	}
	return false
}

func (c *HTTPRequestConnector) parse(call *Call) (HTTPRequestInput, *url.URL, error) {
	in, err := inputOf[HTTPRequestInput](call)
	if err != nil {
		return in, nil, err
	}
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return in, nil, vargate.Invalid("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return in, nil, vargate.Invalid("url", "must not contain credentials")
	}
	if len(call.AllowedDomains) == 0 {
		return in, nil, vargate.Invalid("url", "the agent configuration allows no domains (governance_profile.allowed_domains)")
	}
	if !HostAllowed(u.Hostname(), call.AllowedDomains) {
		return in, nil, vargate.Invalid("url", "host %q is not in the agent's allowed domains", u.Hostname())
	}
	for k, v := range in.Headers {
		if strings.ContainsAny(k+v, "\r\n\x00") {
			return in, nil, vargate.Invalid("headers", "header %q is not on one line", k)
		}
	}
	if in.Body != "" && (in.Method == "GET" || in.Method == "HEAD") {
		return in, nil, vargate.Invalid("body", "a %s request has no body", in.Method)
	}
	return in, u, nil
}

// Validate implements Validator.
func (c *HTTPRequestConnector) Validate(call *Call) error {
	_, _, err := c.parse(call)
	return err
}

// Call implements Connector: it runs the call and scrubs the result and
// error of every credential value released for it.
func (c *HTTPRequestConnector) Call(ctx context.Context, call *Call) (Result, error) {
	return call.scrub(c.call(ctx, call))
}

func (c *HTTPRequestConnector) call(ctx context.Context, call *Call) (Result, error) {
	in, u, err := c.parse(call)
	if err != nil {
		return Result{}, err
	}
	cred, err := c.hostCredential(ctx, call, strings.ToLower(u.Hostname()))
	if err != nil {
		return Result{}, err
	}
	o := outbound{method: in.Method, url: u, headers: in.Headers, cred: cred, scrub: call.released,
		redirectOK: func(r *url.URL) bool {
			return (r.Scheme == "http" || r.Scheme == "https") && HostAllowed(r.Hostname(), call.AllowedDomains)
		}}
	if in.Body != "" {
		o.body = []byte(in.Body)
	}
	return c.Runner.do(ctx, o)
}

// HostToolID is the tool_id of the credential vargate_http_request (and a
// tenant tool) uses for a host: vault.HostToolID.
func HostToolID(host string) string { return vault.HostToolID(host) }

// hostCredential finds and releases the tenant's credential for host, if
// it registered one.
func (c *HTTPRequestConnector) hostCredential(ctx context.Context, call *Call, host string) (*injection, error) {
	r := c.Runner
	if r.Credentials == nil {
		return nil, nil
	}
	toolID := HostToolID(host)
	ms, err := r.Credentials.List(ctx, call.TenantID, vault.Filter{ToolID: toolID})
	if err != nil {
		return nil, fmt.Errorf("list credentials for %s: %w", toolID, err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	name := ms[0].Name
	for _, m := range ms {
		if m.Name == vault.DefaultName {
			name = m.Name
			break
		}
		if m.Name < name {
			name = m.Name
		}
	}
	s, err := useCredential(ctx, r.Credentials, call, toolID, name, host)
	if err != nil {
		return nil, err
	}
	defer s.Wipe()
	var inj injection
	switch {
	case strings.HasPrefix(name, "header."):
		inj, err = inject(s, InHeader, strings.TrimPrefix(name, "header."))
	case strings.HasPrefix(name, "query."):
		inj, err = inject(s, InQuery, strings.TrimPrefix(name, "query."))
	default:
		inj, err = byType(s)
	}
	if err != nil {
		return nil, err
	}
	return &inj, nil
}
