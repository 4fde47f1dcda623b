package httpapi

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vargate/vargate"
)

// tenantRequestsMetric counts a tenant's authenticated requests; it is
// the one family a tenant's own /metrics view shows, and only its series.
const tenantRequestsMetric = "vargate_tenant_http_requests_total"

// metrics serves GET /metrics. The whole registry (every tenant's
// traffic, the runtime, the consumers) is the operator's: it needs
// Authorization: Bearer MetricsToken (VARGATE_METRICS_TOKEN). A tenant's
// human key (admin, approver, auditor) gets its own tenant's series of tenantRequestsMetric only:
// no tenant sees another's traffic.
func (s *Server) metrics() http.Handler {
	full := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	tenantView := s.authorize(anyHuman, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := vargate.FromContext(r.Context())
		mfs, err := s.Registry.Gather()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		w.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range mfs {
			if mf.GetName() != tenantRequestsMetric {
				continue
			}
			if own := ownSeries(mf, p.TenantID); own != nil {
				_ = enc.Encode(own)
			}
		}
		if c, ok := enc.(expfmt.Closer); ok {
			_ = c.Close()
		}
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.MetricsToken != "" {
			if tok, ok := bearerToken(r); ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.MetricsToken)) == 1 {
				full.ServeHTTP(w, r)
				return
			}
		}
		tenantView.ServeHTTP(w, r)
	})
}

// ownSeries returns mf with only the series labelled with tenant.
func ownSeries(mf *dto.MetricFamily, tenant string) *dto.MetricFamily {
	var kept []*dto.Metric
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "tenant" && l.GetValue() == tenant {
				kept = append(kept, m)
				break
			}
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Metric: kept}
}

func bearerToken(r *http.Request) (string, bool) {
	v, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer ")
	return v, ok && v != ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !equalFoldASCII(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// newTenantRequests is the counter behind tenantRequestsMetric.
func newTenantRequests() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: tenantRequestsMetric, Help: "Authenticated HTTP requests by tenant, route, method and status.",
	}, []string{"tenant", "route", "method", "status"})
}
