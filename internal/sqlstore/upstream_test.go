package sqlstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/storetest"
	"github.com/vargate/vargate/internal/upstream"
)

func TestUpstreamStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := t.Context()
		at := time.Date(2026, 12, 7, 12, 0, 0, 123000, time.UTC)
		as := sqlstore.NewAuthStore(db)
		for _, id := range []string{"tenant-a", "tenant-b"} {
			if err := as.CreateTenant(ctx, auth.Tenant{ID: id, Name: id, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		s := sqlstore.NewUpstreamStore(db)
		u := upstream.Upstream{
			TenantID: "tenant-a", Name: "everything", URL: "https://mcp.example.com/mcp",
			Credential: &upstream.Credential{ToolID: "everything", In: "header", Param: "X-Api-Key"},
			Timeouts:   upstream.Timeouts{ConnectMS: 5000, CallMS: 30000},
			CreatedAt:  at, CreatedBy: "key-1", UpdatedAt: at,
		}
		pin := func(tool, digest string) upstream.Pin {
			return upstream.Pin{TenantID: "tenant-a", Upstream: "everything", Tool: tool, Digest: digest,
				Definition: json.RawMessage(`{"name":"` + tool + `"}`), ApprovedAt: at, ApprovedBy: "key-1"}
		}
		if err := s.CreateUpstream(ctx, u, []upstream.Pin{pin("echo", "sha256:1"), pin("get-sum", "sha256:2")}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUpstream(ctx, u, nil); !vargate.IsKind(err, vargate.KindConflict) {
			t.Errorf("duplicate: got %v, want conflict", err)
		}
		got, err := s.Upstream(ctx, "tenant-a", "everything")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("upstream (-want +got):\n%s", diff)
		}
		if _, err := s.Upstream(ctx, "tenant-b", "everything"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("other tenant's get: %v, want not found", err)
		}
		if l, err := s.Upstreams(ctx, "tenant-b"); err != nil || len(l) != 0 {
			t.Errorf("other tenant's list: %v, %v", l, err)
		}
		if p, err := s.Pins(ctx, "tenant-b"); err != nil || len(p) != 0 {
			t.Errorf("other tenant's pins: %v, %v", p, err)
		}

		stdio := u
		stdio.URL, stdio.Command, stdio.Credential = "", []string{"node", "server.js", "--flag"}, nil
		stdio.UpdatedAt = at.Add(time.Minute)
		if err := s.UpdateUpstream(ctx, stdio); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Upstream(ctx, "tenant-a", "everything"); !cmp.Equal(stdio, got) {
			t.Errorf("after update: %s", cmp.Diff(stdio, got))
		}
		other := stdio
		other.TenantID = "tenant-b"
		if err := s.UpdateUpstream(ctx, other); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("update of another tenant's: %v, want not found", err)
		}

		changed := pin("echo", "sha256:3")
		if err := s.SetPins(ctx, "tenant-a", "everything", []upstream.Pin{changed, pin("new-tool", "sha256:4")}, []string{"get-sum"}); err != nil {
			t.Fatal(err)
		}
		pins, err := s.Pins(ctx, "tenant-a")
		if err != nil {
			t.Fatal(err)
		}
		if len(pins) != 2 || pins[0].Tool != "echo" || pins[0].Digest != "sha256:3" || pins[1].Tool != "new-tool" {
			t.Errorf("pins after SetPins = %+v", pins)
		}
		if err := s.SetPins(ctx, "tenant-b", "everything", []upstream.Pin{changed}, nil); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("SetPins on another tenant's upstream: %v, want not found", err)
		}
		if err := s.DeleteUpstream(ctx, "tenant-b", "everything"); !vargate.IsKind(err, vargate.KindNotFound) {
			t.Errorf("other tenant's delete: %v, want not found", err)
		}
		if err := s.DeleteUpstream(ctx, "tenant-a", "everything"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Pins(ctx, "tenant-a"); err != nil || len(p) != 0 {
			t.Errorf("pins after delete: %v, %v", p, err)
		}
	})
}
