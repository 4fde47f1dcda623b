package httpapi

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/vargate/vargate"
)

// The OpenAPI 3.1 description of the whole HTTP API is kept as YAML (easier
// to read and review) and served as JSON at /openapi.json. openapi_test.go
// checks that it describes every route of routes() and that it is a valid
// document; the end-to-end tests validate responses against it.
//
//go:embed openapi/openapi.yaml
var openapiFS embed.FS

var openapiJSON = sync.OnceValues(func() ([]byte, error) {
	src, err := openapiFS.ReadFile("openapi/openapi.yaml")
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := writeNodeJSON(&buf, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return buf.Bytes(), nil
})

// OpenAPI returns the OpenAPI 3.1 document of the API as JSON, with the
// keys in the order the YAML source gives them.
func OpenAPI() ([]byte, error) { return openapiJSON() }

// openapi serves GET /openapi.json. The document is public: it says what
// the API offers, nothing about a tenant.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ vargate.Principal) error {
	doc, err := OpenAPI()
	if err != nil {
		return vargate.Wrap(vargate.KindInternal, err, "openapi document")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(doc) // the client went away; nothing to do
	return nil
}

// writeNodeJSON writes a YAML node as JSON, keeping mapping order.
func writeNodeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return writeNodeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeNodeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k, err := json.Marshal(n.Content[i].Value)
			if err != nil {
				return err
			}
			buf.Write(k)
			buf.WriteByte(':')
			if err := writeNodeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeNodeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}
