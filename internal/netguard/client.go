package netguard

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Allowlist is a set of addresses and networks. An empty Allowlist allows
// every address.
type Allowlist []netip.Prefix

// Allows reports whether addr is in the list, or the list is empty. An
// invalid address is allowed only by an empty list.
func (l Allowlist) Allows(addr netip.Addr) bool {
	if len(l) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	return containsAddr(l, addr)
}

func containsAddr(ps []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range ps {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that made r. It is the
// peer's address (r.RemoteAddr) unless the peer is one of the trusted
// proxies; then X-Forwarded-For is read from the right, skipping the
// entries that are themselves trusted proxies, and the first untrusted
// entry is the client. Entries to the left of it were written by the client
// and are ignored, so a client cannot choose its own address by sending a
// forged header. When every entry is a trusted proxy the leftmost one is
// the client. A malformed entry reached on the way yields the zero Addr,
// which no non-empty allowlist admits.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if !peer.IsValid() || len(trusted) == 0 || !containsAddr(trusted, peer) {
		return peer
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return netip.Addr{}
		}
		client = a
		if !containsAddr(trusted, a) {
			return a
		}
	}
	return client
}

// remoteAddr parses "ip:port" (or a bare IP) into an unmapped address.
func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// forwardedFor splits every X-Forwarded-For header, in order, into hops.
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	return hops
}

// parseHop parses one X-Forwarded-For entry: an IP, possibly with a port
// or, for IPv6, in brackets.
func parseHop(h string) (netip.Addr, bool) {
	if a := remoteAddr(h); a.IsValid() {
		return a, true
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	a, err := netip.ParseAddr(strings.Trim(h, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
