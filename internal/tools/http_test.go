package tools_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

func TestHostAllowed(t *testing.T) {
	allowed := []string{"api.example.com", "*.corp.example", "UPPER.example."}
	tests := []struct {
		host string
		want bool
	}{
		{"api.example.com", true},
		{"API.EXAMPLE.COM", true},
		{"api.example.com.", true},
		{"evil-api.example.com", false},
		{"example.com", false},
		{"a.corp.example", true},
		{"a.b.corp.example", true},
		{"corp.example", false},
		{"upper.example", true},
		{"api.example.com.evil.net", false},
	}
	for _, tt := range tests {
		if got := tools.HostAllowed(tt.host, allowed); got != tt.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

// echo answers with what it received.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "query": r.URL.Query(), "body": string(body),
		"auth": r.Header.Get("Authorization"), "key": r.Header.Get("X-Api-Key"), "custom": r.Header.Get("X-Custom"),
	})
}

func addrOf(t *testing.T, ts *httptest.Server) netip.AddrPort {
	t.Helper()
	return netip.MustParseAddrPort(ts.Listener.Addr().String())
}

func httpCall(t *testing.T, tool *tools.Tool, c *tools.Call) (map[string]any, tools.HTTPResponse, error) {
	t.Helper()
	if err := tool.Validate(c); err != nil {
		return nil, tools.HTTPResponse{}, err
	}
	if err := tool.Precheck(c); err != nil {
		return nil, tools.HTTPResponse{}, err
	}
	res, err := tool.Connector.Call(t.Context(), c)
	if err != nil {
		return nil, tools.HTTPResponse{}, err
	}
	var hr tools.HTTPResponse
	if err := json.Unmarshal(res.Structured, &hr); err != nil {
		t.Fatal(err)
	}
	var echoed map[string]any
	_ = json.Unmarshal(hr.JSON, &echoed)
	return echoed, hr, nil
}

// tlsRunner returns a runner that trusts ts's certificate.
func tlsRunner(guard *netguard.Guard, creds tools.CredentialLister, ts *httptest.Server) *tools.HTTPRunner {
	r := tools.NewHTTPRunner(guard, creds)
	r.TLSConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig
	return r
}

// recordingEcho is an echo server that also keeps the last request it got.
type recordingEcho struct {
	mu   sync.Mutex
	last *http.Request
}

func (e *recordingEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.last = r.Clone(context.Background())
	e.mu.Unlock()
	echo(w, r)
}

func (e *recordingEcho) request() *http.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

func TestHTTPRequestInjectsTheHostCredential(t *testing.T) {
	rec := &recordingEcho{}
	api := httptest.NewTLSServer(rec)
	defer api.Close()
	host := "127.0.0.1"
	tests := []struct {
		name, credName string
		typ            vault.Type
		value          string
		secret         string
		check          func(r *http.Request) bool
	}{
		{"bearer token", "", vault.TypeBearerToken, "tok1-secret", "tok1-secret", func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer tok1-secret" }},
		{"api key", "", vault.TypeAPIKey, "key1-secret", "key1-secret", func(r *http.Request) bool { return r.Header.Get("X-Api-Key") == "key1-secret" }},
		{"basic", "", vault.TypeBasicAuth, `{"username":"user","password":"pass-secret"}`, "pass-secret", func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "user" && p == "pass-secret"
		}},
		{"header credential", "", vault.TypeHeader, `{"name":"X-Custom","value":"h1-secret"}`, "h1-secret", func(r *http.Request) bool { return r.Header.Get("X-Custom") == "h1-secret" }},
		{"query by name", "query.appid", vault.TypeAPIKey, "q1-secret", "q1-secret", func(r *http.Request) bool { return r.URL.Query().Get("appid") == "q1-secret" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := newCreds()
			creds.put("t1", tools.HostToolID(host), tt.credName, tt.typ, tt.value)
			tool := tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: tlsRunner(&netguard.Guard{AllowPrivate: true}, creds, api)})
			m, hr, err := httpCall(t, tool, &tools.Call{TenantID: "t1", ActionID: "a", AllowedDomains: []string{host},
				Args: json.RawMessage(`{"method":"POST","url":"` + api.URL + `/v1/items?x=1","headers":{"Authorization":"Bearer agent-chosen"},"body":"hello"}`)})
			if err != nil {
				t.Fatal(err)
			}
			if hr.Status != 200 || m["body"] != "hello" || m["path"] != "/v1/items" || !tt.check(rec.request()) {
				t.Errorf("echoed %v (status %d), server got %v %v", m, hr.Status, rec.request().URL, rec.request().Header)
			}
			// The upstream echoed the credential; the agent never sees it.
			if strings.Contains(hr.Body, tt.secret) || strings.Contains(string(hr.JSON), tt.secret) {
				t.Errorf("the echoed credential reached the result: %s", hr.Body)
			}
		})
	}

	t.Run("never over plain http", func(t *testing.T) {
		plain := httptest.NewServer(rec)
		defer plain.Close()
		creds := newCreds()
		creds.put("t1", tools.HostToolID(host), "", vault.TypeAPIKey, "plain-secret")
		tool := tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: tools.NewHTTPRunner(&netguard.Guard{AllowPrivate: true}, creds)})
		before := rec.request()
		_, _, err := httpCall(t, tool, &tools.Call{TenantID: "t1", ActionID: "a", AllowedDomains: []string{host},
			Args: json.RawMessage(`{"method":"GET","url":"` + plain.URL + `/"}`)})
		if err == nil || !strings.Contains(err.Error(), "only over https") {
			t.Errorf("err = %v, want a refusal to send the credential over http", err)
		}
		if rec.request() != before {
			t.Error("the request was sent")
		}
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestHTTPRequestRefusals(t *testing.T) {
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal secret") }))
	defer internal.Close()
	creds := newCreds()
	creds.put("t1", tools.HostToolID("localhost"), "", vault.TypeAPIKey, "secret-key")
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = append(leaked, r.Header.Get("X-Api-Key"))
		io.WriteString(w, "other")
	}))
	defer other.Close()
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	defer public.Close()
	publicTLS := httptest.NewTLSServer(public.Config.Handler)
	defer publicTLS.Close()
	// Only the "public" server is reachable: the guard treats the others as
	// the internal network they stand for.
	guard := &netguard.Guard{Allow: []netip.AddrPort{addrOf(t, public)}}
	tool := tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: tools.NewHTTPRunner(guard, creds)})
	call := func(rawURL string, domains ...string) error {
		if domains == nil {
			domains = []string{"127.0.0.1", "localhost"}
		}
		_, _, err := httpCall(t, tool, &tools.Call{TenantID: "t1", ActionID: "a", AllowedDomains: domains,
			Args: json.RawMessage(`{"method":"GET","url":` + mustJSON(rawURL) + `}`)})
		return err
	}
	tests := []struct {
		name, url string
		domains   []string
		want      string
	}{
		{"host not in allowed_domains", "https://evil.example/", nil, "not in the agent's allowed domains"},
		{"no allowed domains", public.URL, []string{}, "allows no domains"},
		{"credentials in the URL", "http://u:p@127.0.0.1/", nil, "must not contain credentials"},
		{"not http", "file:///etc/passwd", nil, "absolute http or https"},
		{"private address even when allowed by name", internal.URL, nil, "target address is not allowed"},
		{"redirect to a private address", public.URL + "/?to=" + url.QueryEscape(internal.URL), nil, "target address is not allowed"},
		{"redirect to cloud metadata", public.URL + "/?to=" + url.QueryEscape("http://169.254.169.254/latest/meta-data/"), []string{"127.0.0.1", "169.254.169.254"}, "target address is not allowed"},
		{"redirect to a host not allowed", public.URL + "/?to=" + url.QueryEscape("http://evil.example/"), nil, "redirect to evil.example is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := call(tt.url, tt.domains...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one with %q", err, tt.want)
			}
		})
	}

	t.Run("credential not forwarded to another host", func(t *testing.T) {
		g := &netguard.Guard{AllowPrivate: true}
		creds := newCreds()
		creds.put("t1", tools.HostToolID("127.0.0.1"), "", vault.TypeAPIKey, "secret-key")
		tool := tools.NewHTTPRequestTool(&tools.HTTPRequestConnector{Runner: tlsRunner(g, creds, publicTLS)})
		// Another host, and plain http on the same host: neither gets it.
		for _, to := range []string{strings.Replace(other.URL, "127.0.0.1", "localhost", 1), other.URL} {
			_, hr, err := httpCall(t, tool, &tools.Call{TenantID: "t1", ActionID: "a", AllowedDomains: []string{"127.0.0.1", "localhost"},
				Args: json.RawMessage(`{"method":"GET","url":` + mustJSON(publicTLS.URL+"/?to="+url.QueryEscape(to)) + `}`)})
			if err != nil || hr.Body != "other" {
				t.Fatalf("err=%v body=%q", err, hr.Body)
			}
		}
		if len(leaked) != 2 || leaked[0] != "" || leaked[1] != "" {
			t.Errorf("the other host received X-Api-Key %q", leaked)
		}
	})
}

func TestTenantToolCheck(t *testing.T) {
	base := func() tools.TenantTool {
		return tools.TenantTool{
			Name: "crm_lookup", Description: "Look up",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"id":{"type":"string"},"q":{"type":"string"}}}`),
			Request:     tools.RequestTemplate{Method: "GET", URL: "https://crm.example.com/contacts/{id}?q={q}"},
		}
	}
	tests := []struct {
		name   string
		edit   func(d *tools.TenantTool)
		field  string
		wantOK bool
	}{
		{"valid", func(*tools.TenantTool) {}, "", true},
		{"reserved prefix", func(d *tools.TenantTool) { d.Name = "vargate_lookup" }, "name", false},
		{"bad name", func(d *tools.TenantTool) { d.Name = "Lookup" }, "name", false},
		{"no description", func(d *tools.TenantTool) { d.Description = " " }, "description", false},
		{"schema not object", func(d *tools.TenantTool) { d.InputSchema = json.RawMessage(`{"type":"string"}`) }, "input_schema", false},
		{"schema invalid", func(d *tools.TenantTool) {
			d.InputSchema = json.RawMessage(`{"type":"object","properties":{"a":{"$ref":"#/$defs/missing"}}}`)
		}, "input_schema", false},
		{"placeholder in host", func(d *tools.TenantTool) { d.Request.URL = "https://{id}.example.com/" }, "request.url", false},
		{"unknown placeholder", func(d *tools.TenantTool) { d.Request.URL = "https://crm.example.com/{nope}" }, "request.url", false},
		{"not http", func(d *tools.TenantTool) { d.Request.URL = "ftp://crm.example.com/" }, "request.url", false},
		{"bad method", func(d *tools.TenantTool) { d.Request.Method = "TRACE" }, "request.method", false},
		{"host header", func(d *tools.TenantTool) { d.Request.Headers = map[string]string{"Host": "x"} }, "request.headers", false},
		{"query credential without param", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "query"}
		}, "credential.param", false},
		{"credential placement", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "cookie"}
		}, "credential.in", false},
		{"bound credential", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "X-Api-Key"}
		}, "", true},
		{"credential of another host", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:other.example.com", In: "header", Param: "X-Api-Key"}
		}, "credential.tool_id", false},
		{"credential of a built-in connector", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "anthropic", In: "header", Param: "X-Anything"}
		}, "credential.tool_id", false},
		{"unbound credential", func(d *tools.TenantTool) { d.Credential = &tools.CredentialRef{ToolID: "crm", In: "bearer"} }, "credential.tool_id", false},
		{"credential over plain http", func(d *tools.TenantTool) {
			d.Request.URL = "http://crm.example.com/contacts/{id}"
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "bearer"}
		}, "request.url", false},
		{"dot-dot segment", func(d *tools.TenantTool) { d.Request.URL = "https://crm.example.com/contacts/../admin/{id}" }, "request.url", false},
		{"encoded dot-dot segment", func(d *tools.TenantTool) { d.Request.URL = "https://crm.example.com/contacts/%2e%2E/{id}" }, "request.url", false},
		{"upgrade header", func(d *tools.TenantTool) { d.Request.Headers = map[string]string{"Upgrade": "h2c"} }, "request.headers", false},
		{"te header", func(d *tools.TenantTool) { d.Request.Headers = map[string]string{"TE": "trailers"} }, "request.headers", false},
		{"proxy-authorization header", func(d *tools.TenantTool) { d.Request.Headers = map[string]string{"Proxy-Authorization": "x"} }, "request.headers", false},
		{"credential in Upgrade", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "Upgrade"}
		}, "credential.param", false},
		{"credential in TE", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "TE"}
		}, "credential.param", false},
		{"credential in Proxy-Authorization", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "Proxy-Authorization"}
		}, "credential.param", false},
		{"credential in Host", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "Host"}
		}, "credential.param", false},
		{"credential in Connection", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "Connection"}
		}, "credential.param", false},
		{"credential in Content-Length", func(d *tools.TenantTool) {
			d.Credential = &tools.CredentialRef{ToolID: "http:crm.example.com", In: "header", Param: "Content-Length"}
		}, "credential.param", false},
		{"body on GET", func(d *tools.TenantTool) { d.Request.Body = json.RawMessage(`{"a":1}`) }, "request.body", false},
		{"header-bound argument", func(d *tools.TenantTool) {
			d.InputSchema = json.RawMessage(`{"type":"object","properties":{"id":{"type":"string","x-mcp-header":"Id"}}}`)
		}, "input_schema", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := base()
			tt.edit(&d)
			_, err := d.Check()
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var ve *vargate.Error
			if !vargateAs(err, &ve) || ve.Kind != vargate.KindInvalid || ve.Field != tt.field {
				t.Errorf("Check = %v, want invalid %s", err, tt.field)
			}
		})
	}
}

func TestTenantToolRendersTheTemplate(t *testing.T) {
	var got *http.Request
	var gotBody string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	}))
	defer api.Close()
	creds := newCreds()
	creds.put("t1", "http:127.0.0.1", "", vault.TypeAPIKey, "crm-key")
	cat := tools.NewCatalog()
	cat.Store = newMemStore()
	cat.Runner = tlsRunner(&netguard.Guard{AllowPrivate: true}, creds, api)
	_, err := cat.Create(t.Context(), "t1", "key-1", tools.TenantTool{
		Name: "create_ticket", Description: "Open a ticket",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"project":{"type":"string"},"title":{"type":"string"},"labels":{"type":"array","items":{"type":"string"}},"priority":{"type":"integer"}},"required":["project","title"]}`),
		Request: tools.RequestTemplate{
			Method: "POST", URL: api.URL + "/projects/{project}/issues",
			Query:   map[string]string{"notify": "{priority}", "source": "vargate"},
			Headers: map[string]string{"X-Project": "{project}"},
			Body:    json.RawMessage(`{"summary":"{title}","labels":"{labels}","text":"[{project}] {title}","priority":"{priority}"}`),
		},
		Credential: &tools.CredentialRef{ToolID: "http:127.0.0.1", In: "query", Param: "api_key"},
	})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cat.Set(t.Context(), "t1")
	if err != nil {
		t.Fatal(err)
	}
	tool, ok := set.Lookup("create_ticket")
	if !ok {
		t.Fatal("tool not in the set")
	}
	c := &tools.Call{TenantID: "t1", ActionID: "a", Args: json.RawMessage(`{"project":"ops/x y","title":"Disk \"full\"","labels":["a","b"]}`)}
	if err := tool.Validate(c); err != nil {
		t.Fatal(err)
	}
	res, err := tool.Connector.Call(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Error("a 418 answer is not marked as an error")
	}
	if got.URL.EscapedPath() != "/projects/ops%2Fx%20y/issues" {
		t.Errorf("path = %s", got.URL.EscapedPath())
	}
	if q := got.URL.Query(); q.Get("api_key") != "crm-key" || q.Get("source") != "vargate" || q.Has("notify") {
		t.Errorf("query = %v, want the credential, the fixed parameter and no empty notify", q)
	}
	if got.Header.Get("X-Project") != "ops/x y" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", got.Header)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(gotBody), &body); err != nil {
		t.Fatalf("body %q: %v", gotBody, err)
	}
	if want := `{"labels":["a","b"],"priority":null,"summary":"Disk \"full\"","text":"[ops/x y] Disk \"full\""}`; mustJSON(body) != want {
		t.Errorf("body = %s, want %s", mustJSON(body), want)
	}
}
