package upstream_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vargate/vargate/internal/loadgen"
	"github.com/vargate/vargate/internal/upstream"
)

// BenchmarkConnectorCall is one governed upstream call's connector part:
// the pooled session, the pin check and the call of a no-op tool over
// loopback Streamable HTTP (the SDK's stateless server).
func BenchmarkConnectorCall(b *testing.B) {
	ts := httptest.NewServer(loadgen.NewBareHandler("read"))
	defer ts.Close()
	f := newFixtureTB(b, true)
	if _, err := f.svc.Create(b.Context(), tenant, "key-admin", upstream.Upstream{Name: "bench", URL: ts.URL}); err != nil {
		b.Fatal(err)
	}
	tool := f.toolTB(b, "bench__read")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.callTB(b.Context(), tool, `{"text":"x"}`); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDirectCall is the same call with the SDK's client alone (the
// floor BenchmarkConnectorCall is compared with).
func BenchmarkDirectCall(b *testing.B) {
	ts := httptest.NewServer(loadgen.NewBareHandler("read"))
	defer ts.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	cs, err := c.Connect(b.Context(), &mcp.StreamableClientTransport{Endpoint: ts.URL}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cs.CallTool(b.Context(), &mcp.CallToolParams{Name: "read", Arguments: json.RawMessage(`{"text":"x"}`)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
