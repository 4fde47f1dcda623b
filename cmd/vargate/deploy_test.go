package main

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vargate/vargate/internal/mcpserver"
	"github.com/vargate/vargate/internal/session"
	"go.yaml.in/yaml/v3"
)

// The MCP server has one name: the setup guide's, which /mcp/server/health
// reports and every agent the gateway creates registers.
func TestMCPServerHasOneName(t *testing.T) {
	if session.MCPServerName != "vargate-governance" || mcpserver.ServerName != session.MCPServerName {
		t.Errorf("agents register %q, the health check says %q; the guide says vargate-governance", session.MCPServerName, mcpserver.ServerName)
	}
}

// .env.example must not carry a PostgreSQL password: compose's
// ${POSTGRES_PASSWORD:?} guard only stops a stack whose password is unset.
func TestEnvExampleHasNoPassword(t *testing.T) {
	src, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") && strings.Contains(k, "PASSWORD") && v != "" {
			t.Errorf(".env.example sets %s=%s: a copied .env would run with it", k, v)
		}
	}
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(compose, []byte("${POSTGRES_PASSWORD:?")) {
		t.Error("docker-compose.yml no longer refuses to start without POSTGRES_PASSWORD")
	}
}

// The production overlay believes X-Forwarded-For only from nginx: the
// trusted proxies are exactly nginx's fixed address, inside the subnet
// of the network nginx and the gateway share.
func TestProductionOverlayTrustsOnlyNginx(t *testing.T) {
	var doc struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Networks    map[string]struct {
				IPv4 string `yaml:"ipv4_address"`
			} `yaml:"networks"`
		} `yaml:"services"`
		Networks map[string]struct {
			IPAM struct {
				Config []struct {
					Subnet string `yaml:"subnet"`
				} `yaml:"config"`
			} `yaml:"ipam"`
		} `yaml:"networks"`
	}
	src, err := os.ReadFile("../../docker-compose.prod.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var cfg Config
	trusted := doc.Services["gateway"].Environment["VARGATE_TRUSTED_PROXIES"]
	if err := prefixesInto(&cfg.TrustedProxies)(trusted); err != nil || len(cfg.TrustedProxies) != 1 || !cfg.TrustedProxies[0].IsSingleIP() {
		t.Fatalf("VARGATE_TRUSTED_PROXIES = %q: want one address, nginx's (%v)", trusted, err)
	}
	proxy := cfg.TrustedProxies[0].Addr()
	var found bool
	for name, n := range doc.Services["nginx"].Networks {
		if n.IPv4 != proxy.String() {
			continue
		}
		found = true
		if _, onIt := doc.Services["gateway"].Networks[name]; !onIt {
			t.Errorf("the gateway is not on nginx's network %s", name)
		}
		for _, c := range doc.Networks[name].IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err != nil || !p.Contains(proxy) {
				t.Errorf("network %s subnet %q does not hold nginx's address %s", name, c.Subnet, proxy)
			}
		}
		if len(doc.Networks[name].IPAM.Config) == 0 {
			t.Errorf("network %s has no fixed subnet", name)
		}
	}
	if !found {
		t.Errorf("nginx has no fixed address %s on any network", proxy)
	}
}
