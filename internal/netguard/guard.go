package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// DefaultDialTimeout bounds one connection attempt when Guard.DialTimeout
// is zero.
const DefaultDialTimeout = 10 * time.Second

// Guard opens outbound connections only to public addresses. The zero
// Guard refuses private, loopback, link-local and other special-purpose
// addresses; it is safe for concurrent use.
type Guard struct {
	// AllowPrivate turns the address check off (VARGATE_ALLOW_PRIVATE_TARGETS):
	// for tests and single-host deployments whose tools live on the
	// internal network.
	AllowPrivate bool
	// Allow lists addresses that may be dialled even though they are not
	// public, each with its port (a known internal service, or a test server).
	Allow []netip.AddrPort
	// DialTimeout bounds each connection attempt (DefaultDialTimeout if zero).
	DialTimeout time.Duration
}

// BlockedError says that a connection was refused because of its address.
type BlockedError struct {
	Addr   netip.AddrPort
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("connection to %s refused: %s address", e.Addr, e.Reason)
}

// IsBlocked reports whether err (or an error it wraps) is a *BlockedError.
func IsBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}

// Check returns a *BlockedError if the guard does not allow connecting to ap.
func (g *Guard) Check(ap netip.AddrPort) error {
	if g != nil && g.AllowPrivate {
		return nil
	}
	a := ap.Addr().Unmap().WithZone("")
	if g != nil {
		for _, x := range g.Allow {
			if x.Addr().Unmap() == a && x.Port() == ap.Port() {
				return nil
			}
		}
	}
	if reason := Special(a); reason != "" {
		return &BlockedError{Addr: netip.AddrPortFrom(a, ap.Port()), Reason: reason}
	}
	return nil
}

// special lists the address ranges that are not public unicast internet
// addresses, with a word for each.
var special = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fc00::/7"), "private"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Special returns why a is not a public unicast address ("private",
// "loopback", "link-local", …), or "" if it is one. IPv4 addresses
// embedded in IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged as
// IPv4.
func Special(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			if r := Special(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
				return r + " (NAT64)"
			}
		case sixTo4.Contains(a):
			if r := Special(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
				return r + " (6to4)"
			}
		}
	}
	for _, s := range special {
		if s.p.Contains(a) {
			return s.reason
		}
	}
	return ""
}

// control runs after DNS resolution, just before each connect: the address
// it sees is the one the socket will reach.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connection to %q refused: cannot parse the address", address)
	}
	return g.Check(ap)
}

// Dialer returns a net.Dialer that refuses addresses the guard does not
// allow.
func (g *Guard) Dialer() *net.Dialer {
	t := DefaultDialTimeout
	if g != nil && g.DialTimeout > 0 {
		t = g.DialTimeout
	}
	return &net.Dialer{Timeout: t, KeepAlive: 30 * time.Second, Control: g.control}
}

// DialContext connects like net.Dialer.DialContext, through Dialer.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer().DialContext(ctx, network, address)
}

// Transport returns an HTTP transport whose every connection goes through
// the guard. It never uses an HTTP proxy from the environment: a proxy
// would make the connection on the guard's behalf, unchecked.
func (g *Guard) Transport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.Dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
