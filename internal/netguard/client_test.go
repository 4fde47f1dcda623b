package netguard_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/vargate/vargate/internal/netguard"
)

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func TestClientAddr(t *testing.T) {
	proxies := prefixes("10.0.0.0/8", "192.168.1.1/32")
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string // "" for the zero Addr
	}{
		{"no proxies configured: peer, header ignored", "203.0.113.10:4000", []string{"1.2.3.4"}, nil, "203.0.113.10"},
		{"untrusted peer: header ignored", "198.51.100.7:4000", []string{"203.0.113.10"}, proxies, "198.51.100.7"},
		{"trusted peer without header: peer", "10.1.2.3:4000", nil, proxies, "10.1.2.3"},
		{"trusted peer: rightmost entry", "10.1.2.3:4000", []string{"203.0.113.10"}, proxies, "203.0.113.10"},
		{"spoofed entries left of the real client are ignored", "10.1.2.3:4000", []string{"203.0.113.11, 203.0.113.10"}, proxies, "203.0.113.10"},
		{"chain of trusted proxies is walked", "10.1.2.3:4000", []string{"203.0.113.11, 198.51.100.9, 192.168.1.1, 10.9.9.9"}, proxies, "198.51.100.9"},
		{"several headers are one list", "10.1.2.3:4000", []string{"203.0.113.11", "198.51.100.9, 10.9.9.9"}, proxies, "198.51.100.9"},
		{"all entries trusted: leftmost", "10.1.2.3:4000", []string{"10.4.4.4, 10.5.5.5"}, proxies, "10.4.4.4"},
		{"entry with port", "10.1.2.3:4000", []string{"203.0.113.10:5555"}, proxies, "203.0.113.10"},
		{"bracketed IPv6 entry", "10.1.2.3:4000", []string{"[2001:db8::1]:443"}, proxies, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"203.0.113.10"}, proxies, "203.0.113.10"},
		{"malformed entry: no address", "10.1.2.3:4000", []string{"203.0.113.10, bogus"}, proxies, ""},
		{"malformed entry left of the client does not matter", "10.1.2.3:4000", []string{"bogus, 203.0.113.10"}, proxies, "203.0.113.10"},
		{"IPv6 peer", "[2001:db8::5]:4000", nil, proxies, "2001:db8::5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "http://gw/mcp/server", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := netguard.ClientAddr(r, tt.trusted)
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("ClientAddr = %v, want %v", got, want)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	l := netguard.Allowlist(prefixes("203.0.113.10/32", "198.51.100.0/24", "2001:db8::/32"))
	tests := []struct {
		addr string
		want bool
	}{
		{"203.0.113.10", true},
		{"203.0.113.11", false},
		{"198.51.100.200", true},
		{"::ffff:203.0.113.10", true},
		{"2001:db8::42", true},
		{"2001:db9::1", false},
		{"", false},
	}
	for _, tt := range tests {
		var a netip.Addr
		if tt.addr != "" {
			a = netip.MustParseAddr(tt.addr)
		}
		if got := l.Allows(a); got != tt.want {
			t.Errorf("Allows(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if !netguard.Allowlist(nil).Allows(netip.Addr{}) {
		t.Error("empty allowlist refused an address")
	}
}
