package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/vargate/vargate"
)

// nonPublic are the ranges a webhook may not reach unless AllowPrivate is
// set: everything that is not ordinary public unicast, beyond what
// netip.Addr's predicates catch.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (checked by its IPv4 part too)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4 (checked by its IPv4 part too)
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// publicAddr returns an error naming why addr is not a public unicast
// address, or nil if it is.
func publicAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return fmt.Errorf("invalid address")
	case addr.IsLoopback():
		return fmt.Errorf("%s is a loopback address", addr)
	case addr.IsPrivate():
		return fmt.Errorf("%s is a private address", addr)
	case addr.IsLinkLocalUnicast(), addr.IsLinkLocalMulticast():
		return fmt.Errorf("%s is a link-local address", addr)
	case addr.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address", addr)
	case addr.IsMulticast(), addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s is a multicast address", addr)
	}
	for _, p := range nonPublic {
		if p.Contains(addr) {
			return fmt.Errorf("%s is in the non-public range %s", addr, p)
		}
	}
	if addr.Is6() {
		// Addresses that embed an IPv4 address are as public as it is.
		b := addr.As16()
		var v4 netip.Addr
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(addr):
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case netip.MustParsePrefix("2002::/16").Contains(addr):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if err := publicAddr(v4); err != nil {
				return fmt.Errorf("%s embeds %w", addr, err)
			}
		}
	}
	return nil
}

// dialControl refuses connections to non-public addresses. It runs after
// name resolution, on the address actually dialled, so a name that
// resolves to a public address when the settings are saved and to a
// private one later (DNS rebinding) is still refused.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	if err := publicAddr(ap.Addr()); err != nil {
		return fmt.Errorf("webhook target refused: %w (set VARGATE_WEBHOOK_ALLOW_PRIVATE=true to allow)", err)
	}
	return nil
}

// newDialer returns the dialer for deliveries.
func newDialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = dialControl
	}
	return d
}

// Resolver looks up a host's addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// checkURL validates a webhook URL: absolute https (http too when private
// targets are allowed), no credentials in it, and a host whose every
// address is public unless allowPrivate.
func checkURL(ctx context.Context, r Resolver, raw string, allowPrivate bool) (string, error) {
	const field = "webhook_url"
	if len(raw) > 2048 {
		return "", vargate.Invalid(field, "longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !u.IsAbs() {
		return "", vargate.Invalid(field, "must be an absolute https:// URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return "", vargate.Invalid(field, "must use https (plain http only with VARGATE_WEBHOOK_ALLOW_PRIVATE=true)")
		}
	default:
		return "", vargate.Invalid(field, "must be an absolute https:// URL")
	}
	if u.User != nil {
		return "", vargate.Invalid(field, "must not contain credentials; the signature authenticates the request")
	}
	if u.Fragment != "" {
		return "", vargate.Invalid(field, "must not have a #fragment")
	}
	if allowPrivate {
		return u.String(), nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{a}
	} else {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err = r.LookupNetIP(lctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return "", vargate.Invalid(field, "host %q cannot be resolved", host)
		}
	}
	for _, a := range addrs {
		if err := publicAddr(a); err != nil {
			return "", vargate.Invalid(field, "host %q is not a public address: %v (set VARGATE_WEBHOOK_ALLOW_PRIVATE=true to allow)", host, err)
		}
	}
	return u.String(), nil
}
