package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vargate/vargate/internal/httpapi"
)

// mountedPaths are described in the document but served by handlers that
// other adapters mount on the same mux (Server.Mount) or by Handler
// itself, so they are not in Routes().
var mountedPaths = []string{
	"GET /metrics",
	"POST /mcp/server", "GET /mcp/server", "DELETE /mcp/server",
	"GET /mcp/server/health",
}

type openapiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadOpenAPI(t *testing.T) (raw []byte, doc openapiDoc) {
	t.Helper()
	raw, err := httpapi.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return raw, doc
}

// TestOpenAPIDescribesEveryRoute checks that every route the server
// registers has an operation in the document, and that the document
// describes nothing the server does not serve.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	_, doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	routes := (&httpapi.Server{}).Routes()
	served := map[string]bool{}
	for _, r := range append(routes, mountedPaths...) {
		served[r] = true
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not described in openapi.yaml", r)
		}
	}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			if op := strings.ToUpper(method) + " " + path; !served[op] {
				t.Errorf("openapi.yaml describes %s, which the server does not serve", op)
			}
		}
	}
}

// TestOpenAPISchemasCompile compiles every schema of the document —
// components and each request and response body — as JSON Schema 2020-12
// (the dialect of OpenAPI 3.1), which checks them against the meta-schema
// and resolves every $ref.
func TestOpenAPISchemasCompile(t *testing.T) {
	raw, doc := loadOpenAPI(t)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://vargate.test/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(base, inst); err != nil {
		t.Fatal(err)
	}
	var ptrs []string
	var components struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &components); err != nil {
		t.Fatal(err)
	}
	for name := range components.Components.Schemas {
		ptrs = append(ptrs, "/components/schemas/"+name)
	}
	type media map[string]struct {
		Schema json.RawMessage `json:"schema"`
	}
	type operation struct {
		OperationID string `json:"operationId"`
		RequestBody struct {
			Content media `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content media `json:"content"`
		} `json:"responses"`
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, rawOp := range item {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %s is used by %s and %s", op.OperationID, prev, where)
			}
			ids[op.OperationID] = where
			opPtr := "/paths/" + escapePointer(path) + "/" + method
			for ct, m := range op.RequestBody.Content {
				if m.Schema != nil {
					ptrs = append(ptrs, opPtr+"/requestBody/content/"+escapePointer(ct)+"/schema")
				}
			}
			for status, resp := range op.Responses {
				for ct, m := range resp.Content {
					if m.Schema != nil {
						ptrs = append(ptrs, opPtr+"/responses/"+status+"/content/"+escapePointer(ct)+"/schema")
					}
				}
			}
		}
	}
	slices.Sort(ptrs)
	for _, p := range ptrs {
		if _, err := c.Compile(base + "#" + p); err != nil {
			t.Errorf("schema %s: %v", p, err)
		}
	}
	if len(ptrs) < 100 {
		t.Errorf("compiled only %d schemas; the walk over the document is broken", len(ptrs))
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// TestOpenAPIServed checks that /openapi.json and /api/openapi.json serve
// the document without a credential.
func TestOpenAPIServed(t *testing.T) {
	want, _ := loadOpenAPI(t)
	h := (&httpapi.Server{}).Handler()
	for _, path := range []string{"/openapi.json", "/api/openapi.json"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		got, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || !bytes.Equal(got, want) {
			t.Errorf("GET %s = %d %q, %d bytes; want 200 application/json with the document", path, rec.Code, rec.Header().Get("Content-Type"), len(got))
		}
	}
}
