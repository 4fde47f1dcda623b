package webhook_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/webhook"
)

func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"93.184.216.34", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"2002:a00:1::", false},    // 6to4 of 10.0.0.1
		{"ff02::1", false},
		// Forms netguard refuses and the webhook guard let through.
		{"::7f00:1", false},           // IPv4-compatible 127.0.0.1
		{"::a00:1", false},            // IPv4-compatible 10.0.0.1
		{"64:ff9b:1::808:808", false}, // local-use NAT64 (RFC 8215)
	} {
		err := webhook.PublicAddr(netip.MustParseAddr(c.addr))
		if (err == nil) != c.public {
			t.Errorf("%s: %v, want public=%v", c.addr, err, c.public)
		}
	}
}

// resolver answers every lookup with fixed addresses.
type resolver []netip.Addr

func (r resolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) { return r, nil }

func TestCheckURL(t *testing.T) {
	public := resolver{netip.MustParseAddr("93.184.216.34")}
	mixed := resolver{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.5")}
	for _, c := range []struct {
		name         string
		url          string
		r            resolver
		allowPrivate bool
		ok           bool
	}{
		{"public https", "https://hooks.example.com/vargate", public, false, true},
		{"plain http", "http://hooks.example.com/vargate", public, false, false},
		{"plain http when private allowed", "http://hooks.example.com/vargate", public, true, true},
		{"one private address among public ones", "https://hooks.example.com/", mixed, false, false},
		{"loopback literal", "https://127.0.0.1:8443/", public, false, false},
		{"IPv6 loopback literal", "https://[::1]/", public, false, false},
		{"IPv4-compatible loopback literal", "https://[::7f00:1]/", public, false, false},
		{"IPv4-mapped loopback literal", "https://[::ffff:7f00:1]/", public, false, false},
		{"metadata literal", "https://169.254.169.254/latest", public, false, false},
		{"loopback allowed", "http://127.0.0.1:9000/", public, true, true},
		{"credentials", "https://user:pw@hooks.example.com/", public, false, false},
		{"relative", "/hooks", public, false, false},
		{"ftp", "ftp://hooks.example.com/", public, false, false},
		{"fragment", "https://hooks.example.com/#x", public, false, false},
	} {
		_, err := webhook.CheckURL(t.Context(), c.r, c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !vargate.IsKind(err, vargate.KindInvalid) {
			t.Errorf("%s: error kind %v", c.name, err)
		}
	}
}
