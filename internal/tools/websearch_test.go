package tools_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/tools"
	"github.com/vargate/vargate/internal/vault"
)

func TestWebSearch(t *testing.T) {
	var gotQuery, gotCount string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Subscription-Token") != "k1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		gotQuery, gotCount = r.URL.Query().Get("q"), r.URL.Query().Get("count")
		w.Write([]byte(`{"type":"search","web":{"results":[{"title":"A","url":"https://a.example","description":"a","extra":1},{"title":"B","url":"https://b.example","description":"b"}]}}`))
	}))
	defer api.Close()
	creds := newCreds()
	creds.put("t1", tools.WebSearch, "", vault.TypeAPIKey, "k1")
	creds.put("t2", tools.WebSearch, "", vault.TypeAPIKey, "wrong")
	tool := tools.NewWebSearchTool(&tools.WebSearchConnector{URL: api.URL, Credentials: creds})

	res, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: "t1", ActionID: "a1", Args: json.RawMessage(`{"query":"go mcp","max_results":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	var out tools.WebSearchResult
	if err := json.Unmarshal(res.Structured, &out); err != nil {
		t.Fatal(err)
	}
	if gotQuery != "go mcp" || gotCount != "1" || len(out.Results) != 1 || out.Results[0].Title != "A" {
		t.Errorf("q=%q count=%q results=%+v", gotQuery, gotCount, out.Results)
	}
	if len(creds.uses) != 1 || creds.uses[0].ActionID != "a1" {
		t.Errorf("credential uses = %+v, want one for action a1", creds.uses)
	}

	tests := []struct {
		name, tenant string
		want         vargate.Kind
	}{
		{"no credential registered", "t3", vargate.KindUnavailable},
		{"the API refuses the key", "t2", vargate.KindUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tool.Connector.Call(t.Context(), &tools.Call{TenantID: tt.tenant, ActionID: "a", Args: json.RawMessage(`{"query":"x"}`)})
			if vargate.KindOf(err) != tt.want {
				t.Errorf("err = %v, want kind %s", err, tt.want)
			}
		})
	}
}

func TestSchemaValidation(t *testing.T) {
	tool := tools.NewWebSearchTool(&tools.WebSearchConnector{})
	tests := []struct {
		args string
		ok   bool
	}{
		{`{"query":"x"}`, true},
		{`{"query":"x","max_results":20}`, true},
		{`{}`, false},
		{`{"query":""}`, false},
		{`{"query":"x","max_results":0}`, false},
		{`{"query":"x","max_results":2.5}`, false},
		{`{"query":"x","other":1}`, false},
		{`[]`, false},
		{`{"query":`, false},
	}
	for _, tt := range tests {
		err := tool.Validate(&tools.Call{Args: json.RawMessage(tt.args)})
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tt.args, err, tt.ok)
		}
		if err != nil && !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("Validate(%s) = %v, want KindInvalid", tt.args, err)
		}
	}
}
