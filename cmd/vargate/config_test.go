package main

import (
	"flag"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // substring naming the setting; "" for success
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults", check: func(t *testing.T, c *Config) {
			if c.Listen != "127.0.0.1:8000" || c.DataDir != "./data" || c.DefaultMaxConcurrentSessions != 10 || c.SSETimeout != 300*time.Second {
				t.Errorf("defaults: %+v", c)
			}
			if c.MCPServerURL != "http://127.0.0.1:8000/api/mcp/server" {
				t.Errorf("MCP URL default = %q", c.MCPServerURL)
			}
		}},
		{name: "flag beats env", env: map[string]string{"VARGATE_LISTEN": "127.0.0.1:1"}, args: []string{"--listen", "127.0.0.1:2"},
			check: func(t *testing.T, c *Config) {
				if c.Listen != "127.0.0.1:2" {
					t.Errorf("Listen = %q", c.Listen)
				}
			}},
		{name: "allowlist", env: map[string]string{"MCP_IP_ALLOWLIST": "203.0.113.10, 10.0.0.0/8,::1"},
			check: func(t *testing.T, c *Config) {
				if got := joinPrefixes(c.MCPIPAllowlist); got != "203.0.113.10/32,10.0.0.0/8,::1/128" {
					t.Errorf("allowlist = %s", got)
				}
			}},
		{name: "bad allowlist", env: map[string]string{"MCP_IP_ALLOWLIST": "203.0.113.300"}, wantErr: "MCP_IP_ALLOWLIST"},
		{name: "retention too short", env: map[string]string{"VARGATE_WEBHOOK_RETENTION": "5m"}, wantErr: "VARGATE_WEBHOOK_RETENTION"},
		{name: "retentions", env: map[string]string{"VARGATE_WEBHOOK_RETENTION": "0", "VARGATE_OBSERVE_RETENTION": "48h"},
			check: func(t *testing.T, c *Config) {
				if c.WebhookRetention != 0 || c.ObserveRetention != 48*time.Hour {
					t.Errorf("retentions %v, %v", c.WebhookRetention, c.ObserveRetention)
				}
			}},
		{name: "bad proxies", env: map[string]string{"VARGATE_TRUSTED_PROXIES": "proxy.local"}, wantErr: "VARGATE_TRUSTED_PROXIES"},
		{name: "bad sessions", env: map[string]string{"DEFAULT_MAX_CONCURRENT_SESSIONS": "0"}, wantErr: "DEFAULT_MAX_CONCURRENT_SESSIONS"},
		{name: "bad sse", env: map[string]string{"SSE_TIMEOUT": "-1"}, wantErr: "SSE_TIMEOUT"},
		{name: "approval ttl and private webhooks", env: map[string]string{"VARGATE_APPROVAL_TTL": "90m", "VARGATE_WEBHOOK_ALLOW_PRIVATE": "true"},
			check: func(t *testing.T, c *Config) {
				if c.ApprovalTTL != 90*time.Minute || !c.WebhookAllowPrivate {
					t.Errorf("ApprovalTTL = %v, WebhookAllowPrivate = %v", c.ApprovalTTL, c.WebhookAllowPrivate)
				}
			}},
		{name: "approval ttl in seconds", env: map[string]string{"VARGATE_APPROVAL_TTL": "3600"},
			check: func(t *testing.T, c *Config) {
				if c.ApprovalTTL != time.Hour || c.WebhookAllowPrivate {
					t.Errorf("ApprovalTTL = %v, WebhookAllowPrivate = %v", c.ApprovalTTL, c.WebhookAllowPrivate)
				}
			}},
		{name: "approval ttl too short", env: map[string]string{"VARGATE_APPROVAL_TTL": "10s"}, wantErr: "VARGATE_APPROVAL_TTL"},
		{name: "approval defaults", check: func(t *testing.T, c *Config) {
			if c.ApprovalTTL != 24*time.Hour || c.WebhookAllowPrivate {
				t.Errorf("ApprovalTTL = %v, WebhookAllowPrivate = %v", c.ApprovalTTL, c.WebhookAllowPrivate)
			}
		}},
		{name: "bad db url", env: map[string]string{"DATABASE_URL": "mysql://x"}, wantErr: "DATABASE_URL"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "bad mcp url", env: map[string]string{"VARGATE_MCP_SERVER_URL": "vargate.ai/api"}, wantErr: "VARGATE_MCP_SERVER_URL"},
		{name: "bad bool", env: map[string]string{"VARGATE_AUTO_MIGRATE": "sometimes"}, wantErr: "VARGATE_AUTO_MIGRATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c, _, err := LoadConfig(fs, tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestPrintConfigMasksSecrets(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	env := map[string]string{"ANTHROPIC_API_KEY": "sk-ant-canary-123", "DATABASE_URL": "postgres://u:hunter2@db/x?password=hunter3"}
	c, _, err := LoadConfig(fs, nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	c.Print(&b)
	out := b.String()
	for _, secret := range []string{"sk-ant-canary-123", "hunter2", "hunter3"} {
		if strings.Contains(out, secret) {
			t.Errorf("config output contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "ANTHROPIC_API_KEY=****(set)") {
		t.Errorf("masked key should still say it is set:\n%s", out)
	}
}

func TestInterspersedFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	j := fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"acme", "--json", "--", "-x"})
	if err != nil {
		t.Fatal(err)
	}
	if !*j || strings.Join(pos, " ") != "acme -x" {
		t.Errorf("json=%v pos=%q", *j, pos)
	}
}

// Once listening, a default MCP server URL names the port actually taken
// and warns when its host is unreachable; a URL that was set stays.
func TestConfigListening(t *testing.T) {
	tests := []struct {
		name, listenEnv, urlEnv, addr string
		want                          string
		warn                          bool
	}{
		{"port 0", "127.0.0.1:0", "", "127.0.0.1:43210", "http://127.0.0.1:43210/api/mcp/server", false},
		{"every address", "0.0.0.0:8000", "", "0.0.0.0:8000", "http://0.0.0.0:8000/api/mcp/server", true},
		{"set", "127.0.0.1:0", "https://gw.example.com/api/mcp/server", "127.0.0.1:43210", "https://gw.example.com/api/mcp/server", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"VARGATE_LISTEN": tt.listenEnv, "VARGATE_MCP_SERVER_URL": tt.urlEnv}
			c, _, err := LoadConfig(flag.NewFlagSet("t", flag.ContinueOnError), nil, func(k string) string { return env[k] })
			if err != nil {
				t.Fatal(err)
			}
			warning := c.Listening(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.addr)))
			if c.MCPServerURL != tt.want || (warning != "") != tt.warn {
				t.Errorf("MCP URL %q, warning %q; want %q, warning %v", c.MCPServerURL, warning, tt.want, tt.warn)
			}
		})
	}
}
