package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/vault"
)

func TestCredentialsAPI(t *testing.T) {
	e := newAPI(t, apiOptions{Vault: true})
	// The guide's request, verbatim, under /api.
	r := e.do(t, "acme/admin", "POST", "/api/credentials/register",
		`{"tool_id": "anthropic", "credential_type": "api_key", "value": "sk-ant-api03-guide"}`, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	var created httpapi.CredentialResponse
	if err := json.Unmarshal(r.raw, &created); err != nil {
		t.Fatal(err)
	}
	if created.ToolID != "anthropic" || created.Name != "default" || created.CredentialType != "api_key" || created.Version != 1 || created.Fingerprint == "" {
		t.Errorf("created = %+v", created)
	}
	var raw map[string]any
	_ = json.Unmarshal(r.raw, &raw)
	if _, has := raw["value"]; has || bytes.Contains(r.raw, []byte("sk-ant-api03-guide")) {
		t.Errorf("register response carries the value: %s", r.raw)
	}

	// A structured value may be a JSON object; a second name for the tool.
	r = e.do(t, "acme/admin", "POST", "/credentials/register",
		`{"tool_id":"vargate_send_email","name":"alerts","credential_type":"smtp","value":{"host":"smtp.example.com","port":587,"password":"pw","from":"a@example.com"}}`, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("register smtp object: %d %s", r.status, r.raw)
	}
	// Rotation.
	r = e.do(t, "acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"sk-ant-api03-rotated"}`, nil)
	var rotated httpapi.CredentialResponse
	_ = json.Unmarshal(r.raw, &rotated)
	if r.status != http.StatusCreated || rotated.Version != 2 {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}

	type listBody struct {
		Credentials []httpapi.CredentialResponse `json:"credentials"`
		Count       int                          `json:"count"`
	}
	for _, who := range []string{"acme/admin", "acme/approver", "acme/auditor"} {
		r = e.do(t, who, "GET", "/credentials", "", nil)
		var l listBody
		_ = json.Unmarshal(r.raw, &l)
		if r.status != http.StatusOK || l.Count != 2 || len(l.Credentials) != 2 {
			t.Errorf("%s lists: %d %s", who, r.status, r.raw)
		}
	}
	r = e.do(t, "acme/auditor", "GET", "/credentials?all=true&tool_id=anthropic", "", nil)
	var hist listBody
	_ = json.Unmarshal(r.raw, &hist)
	if r.status != http.StatusOK || hist.Count != 2 || hist.Credentials[1].State != "superseded" {
		t.Errorf("history: %d %s", r.status, r.raw)
	}
	r = e.do(t, "acme/auditor", "GET", "/credentials/"+created.ID, "", nil)
	if r.status != http.StatusOK || !bytes.Contains(r.raw, []byte(`"state":"superseded"`)) {
		t.Errorf("get old version: %d %s", r.status, r.raw)
	}

	// Roles: the agent role reaches nothing; only admins change anything.
	for _, c := range []struct {
		who, method, path, body string
		want                    int
	}{
		{"acme/agent", "GET", "/credentials", "", http.StatusForbidden},
		{"acme/agent", "GET", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"acme/agent", "POST", "/credentials/register", `{"tool_id":"x","credential_type":"api_key","value":"v"}`, http.StatusForbidden},
		{"acme/agent", "DELETE", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"acme/auditor", "POST", "/credentials/register", `{"tool_id":"x","credential_type":"api_key","value":"v"}`, http.StatusForbidden},
		{"acme/approver", "DELETE", "/credentials/" + rotated.ID, "", http.StatusForbidden},
		{"", "GET", "/credentials", "", http.StatusUnauthorized},
		// Tenant B sees, uses and deletes none of A's.
		{"globex/admin", "GET", "/credentials/" + rotated.ID, "", http.StatusNotFound},
		{"globex/admin", "DELETE", "/credentials/" + rotated.ID, "", http.StatusNotFound},
	} {
		if r := e.do(t, c.who, c.method, c.path, c.body, nil); r.status != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.who, c.method, c.path, r.status, r.raw, c.want)
		}
	}
	r = e.do(t, "globex/admin", "GET", "/credentials?all=true", "", nil)
	if r.status != http.StatusOK || !bytes.Contains(r.raw, []byte(`"count":0`)) {
		t.Errorf("tenant B lists: %d %s", r.status, r.raw)
	}
	if _, err := e.vault.Use(t.Context(), e.tids["acme"], "anthropic", "", vault.Purpose{ActionID: "a1"}); err != nil {
		t.Errorf("tenant A's key after B's attempts: %v", err)
	}

	// Delete destroys the key material.
	r = e.do(t, "acme/admin", "DELETE", "/credentials/"+rotated.ID, "", nil)
	if r.status != http.StatusOK || !bytes.Contains(r.raw, []byte(`"state":"deleted"`)) {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if _, err := e.vault.Use(t.Context(), e.tids["acme"], "anthropic", "", vault.Purpose{ActionID: "a1"}); !vargate.IsKind(err, vargate.KindNotFound) {
		t.Errorf("use after delete: %v", err)
	}
	// Changes are audited with the API key that made them.
	var recs []vault.Access
	dec := json.NewDecoder(bytes.NewReader(e.credAudit.Bytes()))
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
	if r := e.do(t, "acme/admin", "GET", "/credentials/cred-nope", "", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown id: %d", r.status)
	}
}

func TestRegisterCredentialValidation(t *testing.T) {
	e := newAPI(t, apiOptions{Vault: true})
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
		r := e.do(t, "acme/admin", "POST", "/credentials/register", c.body, nil)
		var eb httpapi.ErrorBody
		_ = json.Unmarshal(r.raw, &eb)
		if r.status < 400 || r.status >= 500 || eb.Error.Field != c.field {
			t.Errorf("%s: %d %s, want 4xx naming %q", c.name, r.status, r.raw, c.field)
		}
	}
}

// TestCredentialsCanary registers a distinctive secret through the API,
// calls every credential endpoint (and the failing paths), uses it through
// the vault as a connector would, and finds it nowhere: not in any
// response, log line, audit record, or byte of the data directory.
func TestCredentialsCanary(t *testing.T) {
	e := newAPI(t, apiOptions{Vault: true})
	canary := "sk-ant-api03-CANARY-" + vargate.NewID("", 16)
	var responses bytes.Buffer
	call := func(who, method, path, body string) []byte {
		b := e.do(t, who, method, path, body, nil).raw
		responses.Write(b)
		return b
	}
	b := call("acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"}`)
	var m httpapi.CredentialResponse
	if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
		t.Fatalf("register: %s", b)
	}
	call("acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+` "}`)
	call("acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"nope","value":"`+canary+`"}`)
	call("acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"smtp","value":{"`+canary+`":1}}`)
	call("acme/admin", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"`) // truncated
	call("acme/auditor", "POST", "/credentials/register", `{"tool_id":"anthropic","credential_type":"api_key","value":"`+canary+`"}`)
	call("acme/admin", "GET", "/credentials", "")
	call("acme/admin", "GET", "/credentials?all=true", "")
	call("acme/auditor", "GET", "/credentials/"+m.ID, "")
	call("globex/admin", "GET", "/credentials/"+m.ID, "")
	s, err := e.vault.Use(t.Context(), e.tids["acme"], "anthropic", "", vault.Purpose{ActionID: "act-1", Actor: "agent-1"})
	if err != nil || string(s.Reveal()) != canary {
		t.Fatalf("use: %v", err)
	}
	call("acme/admin", "GET", "/credentials/"+m.ID, "")
	call("acme/admin", "DELETE", "/credentials/"+m.ID, "")
	call("acme/admin", "GET", "/credentials?all=true", "")
	call("acme/admin", "GET", "/health", "")

	places := map[string][]byte{"responses": responses.Bytes(), "logs": e.logs.Bytes(), "audit": e.credAudit.Bytes()}
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
	if len(e.credAudit.Bytes()) == 0 || len(e.logs.Bytes()) == 0 || len(places["file vargate.db"]) == 0 {
		t.Fatal("nothing recorded to search")
	}
	for place, data := range places {
		if bytes.Contains(data, []byte(canary)) {
			t.Errorf("the secret appears in %s", place)
		}
	}
}
