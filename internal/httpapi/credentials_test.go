package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlite"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
)

// jsonAudit serialises every credential audit record, as an export would.
type jsonAudit struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *jsonAudit) RecordCredentialAccess(_ context.Context, r vault.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return json.NewEncoder(&a.buf).Encode(r)
}

type credEnv struct {
	srv   *httptest.Server
	vault *vault.Vault
	dir   string
	db    *sqlstore.DB
	logs  *bytes.Buffer
	audit *jsonAudit
	keys  map[string]string // "a-admin", "b-auditor", … → API key
	tenA  string
}

func newCredEnv(t *testing.T) *credEnv {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "vargate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ms, err := sqlite.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx, ms); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	as := auth.NewService(sqlstore.NewAuthStore(db))
	e := &credEnv{dir: dir, db: db, logs: logs, audit: &jsonAudit{}, keys: map[string]string{}}
	for _, name := range []string{"a", "b"} {
		ten, err := as.CreateTenant(ctx, "tenant-"+name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "a" {
			e.tenA = ten.ID
		}
		for _, role := range []vargate.Role{vargate.RoleAdmin, vargate.RoleApprover, vargate.RoleAuditor, vargate.RoleAgent} {
			req := auth.KeyRequest{TenantID: ten.ID, Role: role}
			if role == vargate.RoleAgent {
				req.AgentID = "agent-1"
			}
			_, secret, err := as.CreateKey(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			e.keys[name+"-"+string(role)] = secret
		}
	}
	keys, err := vault.OpenKeyProvider(ctx, vault.KeyProviderConfig{DataDir: dir}, logger)
	if err != nil {
		t.Fatal(err)
	}
	e.vault = vault.New(sqlstore.NewVaultStore(db), keys, e.audit, logger)
	api := &httpapi.Server{Logger: logger, Auth: as, Vault: e.vault, Ping: db.Ping}
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request as the named key and returns status and body.
func (e *credEnv) do(t *testing.T, who, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", e.keys[who])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func TestCredentialsAPI(t *testing.T) {
	e := newCredEnv(t)
	// The guide's request, verbatim, under /api.
	status, body := e.do(t, "a-admin", "POST", "/api/credentials/register",
		`{"tool_id": "anthropic", "credential_type": "api_key", "value": "sk-ant-api03-guide"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	var created httpapi.CredentialResponse
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	if created.ToolID != "anthropic" || created.Name != "default" || created.CredentialType != "api_key" || created.Version != 1 || created.Fingerprint == "" {
		t.Errorf("created = %+v", created)
	}
	var raw map[string]any
	_ = json.Unmarshal(body, &raw)
	if _, has := raw["value"]; has || bytes.Contains(body, []byte("sk-ant-api03-guide")) {
		t.Errorf("register response carries the value: %s", body)
	}

	// A structured value may be a JSON object; a second name for the tool.
	status, body = e.do(t, "a-admin", "POST", "/credentials/register",
		`{"tool_id":"vargate_send_email","name":"alerts","credential_type":"smtp","value":{"host":"smtp.example.com","port":587,"password":"pw","from":"a@example.com"}}`)
	if status != http.StatusCreated {
		t.Fatalf("register smtp object: %d %s", status, body)
	}
	// Rotation.
	status, body = e.do(t, "a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"sk-ant-api03-rotated"}`)
	var rotated httpapi.CredentialResponse
	_ = json.Unmarshal(body, &rotated)
	if status != http.StatusCreated || rotated.Version != 2 {
		t.Fatalf("rotate: %d %s", status, body)
	}

	type listBody struct {
		Credentials []httpapi.CredentialResponse `json:"credentials"`
		Count       int                          `json:"count"`
	}
	for _, who := range []string{"a-admin", "a-approver", "a-auditor"} {
		status, body = e.do(t, who, "GET", "/credentials", "")
		var l listBody
		_ = json.Unmarshal(body, &l)
		if status != http.StatusOK || l.Count != 2 || len(l.Credentials) != 2 {
			t.Errorf("%s lists: %d %s", who, status, body)
		}
	}
	status, body = e.do(t, "a-auditor", "GET", "/credentials?all=true&tool_id=anthropic", "")
	var hist listBody
	_ = json.Unmarshal(body, &hist)
	if status != http.StatusOK || hist.Count != 2 || hist.Credentials[1].State != "superseded" {
		t.Errorf("history: %d %s", status, body)
	}
	status, body = e.do(t, "a-auditor", "GET", "/credentials/"+created.ID, "")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"state":"superseded"`)) {
		t.Errorf("get old version: %d %s", status, body)
	}

	// Roles: the agent role reaches nothing; only admins change anything.
	for _, c := range []struct {
		who, method, path, body string
		want                    int
	}{
		{"a-agent", "GET", "/credentials", "", http.StatusForbidden},
		{"a-agent", "GET", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"a-agent", "POST", "/credentials/register", `{"tool_id":"x","credential_type":"api_key","value":"v"}`, http.StatusForbidden},
		{"a-agent", "DELETE", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"a-auditor", "POST", "/credentials/register", `{"tool_id":"x","credential_type":"api_key","value":"v"}`, http.StatusForbidden},
		{"a-approver", "DELETE", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"", "GET", "/credentials", "", http.StatusUnauthorized},
		// Tenant B sees, uses and deletes none of A's.
		{"b-admin", "GET", "/credentials/" + rotated.ID, "", http.StatusNotFound},
		{"b-admin", "DELETE", "/credentials/" + rotated.ID, "", http.StatusNotFound},
	} {
		if status, body := e.do(t, c.who, c.method, c.path, c.body); status != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, status, body, c.want)
		}
	}
	status, body = e.do(t, "b-admin", "GET", "/credentials?all=true", "")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"count":0`)) {
		t.Errorf("tenant B lists: %d %s", status, body)
	}
	if _, err := e.vault.Use(t.Context(), e.tenA, "anthropic", "", vault.Purpose{ActionID: "a1"}); err != nil {
		t.Errorf("tenant A's key after B's attempts: %v", err)
	}

	// Delete destroys the key material.
	status, body = e.do(t, "a-admin", "DELETE", "/credentials/"+rotated.ID, "")
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"state":"deleted"`)) {
		t.Fatalf("delete: %d %s", status, body)
	}
	if _, err := e.vault.Use(t.Context(), e.tenA, "anthropic", "", vault.Purpose{ActionID: "a1"}); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("use after delete: %v", err)
	}
	// Changes are audited with the API key that made them.
	var recs []vault.Access
	dec := json.NewDecoder(bytes.NewReader(e.audit.buf.Bytes()))
	for dec.More() {
		var a vault.Access
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, a)
	}
	if len(recs) == 0 || recs[0].Op != vault.OpRegister || !strings.HasPrefix(recs[0].Actor, "key-") ||
		recs[len(recs)-1].Op != vault.OpDelete || recs[len(recs)-1].Actor != recs[0].Actor {
		t.Errorf("audit records = %+v, want register … delete by the admin key", recs)
	}
	if status, _ := e.do(t, "a-admin", "GET", "/credentials/cred-nope", ""); status != http.StatusNotFound {
		t.Errorf("unknown id: %d", status)
	}
}

func TestRegisterCredentialValidation(t *testing.T) {
	e := newCredEnv(t)
	big := strings.Repeat("k", vault.DefaultMaxValueSize+1)
	for _, c := range []struct {
		name, body, field string
	}{
		{"unknown type", `{"tool_id":"vargate_t","credential_type":"password","value":"v"}`, "credential_type"},
		{"missing type", `{"tool_id":"vargate_t","value":"v"}`, "credential_type"},
		{"empty value", `{"tool_id":"vargate_t","credential_type":"api_key","value":""}`, "value"},
		{"missing value", `{"tool_id":"vargate_t","credential_type":"api_key"}`, "value"},
		{"null value", `{"tool_id":"vargate_t","credential_type":"api_key","value":null}`, "value"},
		{"number value", `{"tool_id":"vargate_t","credential_type":"api_key","value":42}`, "value"},
		{"array value", `{"tool_id":"vargate_t","credential_type":"api_key","value":["a"]}`, "value"},
		{"oversized value", `{"tool_id":"vargate_t","credential_type":"api_key","value":"` + big + `"}`, "value"},
		{"unknown field", `{"tool_id":"vargate_t","credential_type":"api_key","value":"v","expires":"2027"}`, "expires"},
		{"missing tool", `{"credential_type":"api_key","value":"v"}`, "tool_id"},
		{"bad name", `{"tool_id":"vargate_t","name":"a b","credential_type":"api_key","value":"v"}`, "name"},
		{"smtp unknown field", `{"tool_id":"vargate_t","credential_type":"smtp","value":{"host":"h","port":25,"from":"f","tls":true}}`, "value.tls"},
		{"tool type", `{"tool_id":7,"credential_type":"api_key","value":"v"}`, "tool_id"},
	} {
		status, body := e.do(t, "a-admin", "POST", "/credentials/register", c.body)
		var eb httpapi.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if status < 400 || status >= 500 || eb.Error.Field != c.field {
			t.Errorf("%s: %d %s, want 4xx naming %q", c.name, status, body, c.field)
		}
	}
}

// TestCredentialsCanary registers a distinctive secret through the API,
// calls every credential endpoint (and the failing paths), uses it through
// the vault as a connector would, and finds it nowhere: not in any
// response, log line, audit record, or byte of the data directory.
func TestCredentialsCanary(t *testing.T) {
	e := newCredEnv(t)
	canary := "sk-ant-api03-CANARY-" + vargate.NewID("", 16)
	var responses bytes.Buffer
	call := func(who, method, path, body string) []byte {
		_, b := e.do(t, who, method, path, body)
		responses.Write(b)
		return b
	}
	b := call("a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"}`)
	var m httpapi.CredentialResponse
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		t.Fatalf("register: %s", b)
	}
	call("a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+` "}`)
	call("a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"nope","value":"`+canary+`"}`)
	call("a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"smtp","value":{"`+canary+`":1}}`)
	call("a-admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"`) // truncated
	call("a-auditor", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"}`)
	call("a-admin", "GET", "/credentials", "")
	call("a-admin", "GET", "/credentials?all=true", "")
	call("a-auditor", "GET", "/credentials/"+m.ID, "")
	call("b-admin", "GET", "/credentials/"+m.ID, "")
	s, err := e.vault.Use(t.Context(), e.tenA, "anthropic", "", vault.Purpose{ActionID: "act-1", Actor: "agent-1"})
	if err != nil || string(s.Reveal()) != canary {
		t.Fatalf("use: %v", err)
	}
	call("a-admin", "GET", "/credentials/"+m.ID, "")
	call("a-admin", "DELETE", "/credentials/"+m.ID, "")
	call("a-admin", "GET", "/credentials?all=true", "")
	call("a-admin", "GET", "/health", "")

	places := map[string][]byte{"responses": responses.Bytes(), "logs": e.logs.Bytes(), "audit": e.audit.buf.Bytes()}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		data, err := os.ReadFile(filepath.Join(e.dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		places["file "+ent.Name()] = data
	}
	if e.audit.buf.Len() == 0 || e.logs.Len() == 0 || len(places["file vargate.db"]) == 0 {
		t.Fatal("nothing recorded to search")
	}
	for place, data := range places {
		if bytes.Contains(data, []byte(canary)) {
			t.Errorf("the secret appears in %s", place)
		}
	}
}
