package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/netguard"
)

// publicAddr returns an error naming why addr is not a public unicast
// address, or nil if it is. It is netguard's judgement (one guard for
// every outbound connection), with the address spelled as given.
func publicAddr(addr netip.Addr) error {
	if reason := netguard.Special(addr); reason != "" {
		return fmt.Errorf("%s is a %s address", addr, reason)
	}
	return nil
}

// newDialer returns the dialer for deliveries: netguard's, which checks
// the address actually dialled (after name resolution, so a name that
// resolves to a public address when the settings are saved and to a
// private one later is still refused).
func newDialer(allowPrivate bool) *net.Dialer {
	d := (&netguard.Guard{AllowPrivate: allowPrivate, DialTimeout: 10 * time.Second}).Dialer()
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
