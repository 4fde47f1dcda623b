package vault

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/vargate/vargate"
)

// HostToolPrefix starts the tool ID of a credential bound to one host:
// "http:api.example.com" may be sent only to api.example.com (by
// vargate_http_request or a tenant tool), and only over https.
const HostToolPrefix = "http:"

// ConnectorToolPrefix starts the tool ID of a credential bound to one
// built-in connector (vargate_web_search, vargate_send_email, …).
const ConnectorToolPrefix = "vargate_"

// Binding is where a credential's value may be sent. It follows from the
// tool ID the credential was registered under, so it cannot be changed
// without registering the value again: an administrator's key (or a stolen
// one) can point a tenant tool at a host, but cannot make the vault send an
// existing value there.
type Binding struct {
	// Connector is the built-in connector that may use the value
	// (AnthropicToolID for managed-agent sessions, or a built-in tool's
	// name); empty for a host credential.
	Connector string
	// Host is the one host (lower case, no port) HTTP requests carrying
	// the value may go to; empty for a connector credential.
	Host string
}

// String says where a binding lets the value go.
func (b Binding) String() string {
	if b.Host != "" {
		return "host " + b.Host
	}
	return "the built-in connector " + b.Connector
}

var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$`)

// ValidHost reports whether h is a host a credential can be bound to: a
// lower-case DNS name or an IP address, without port.
func ValidHost(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, "%")
	}
	return hostnameRE.MatchString(h)
}

// BindingOf returns the binding of a credential registered under toolID,
// or false if toolID names neither a host nor a built-in connector (a
// credential registered before bindings existed: no connector and no host
// may use it; register it again under "http:HOST").
func BindingOf(toolID string) (Binding, bool) {
	switch {
	case toolID == AnthropicToolID:
		return Binding{Connector: toolID}, true
	case strings.HasPrefix(toolID, ConnectorToolPrefix) && len(toolID) > len(ConnectorToolPrefix):
		return Binding{Connector: toolID}, true
	case strings.HasPrefix(toolID, HostToolPrefix):
		if h := strings.TrimPrefix(toolID, HostToolPrefix); ValidHost(h) {
			return Binding{Host: h}, true
		}
	}
	return Binding{}, false
}

// HostToolID is the tool ID of the credentials bound to host.
func HostToolID(host string) string {
	return HostToolPrefix + strings.ToLower(strings.TrimSuffix(host, "."))
}

// checkBinding refuses a release of toolID's credential to p's
// destination: p.Host for an HTTP request, p.Connector for a connector
// that names itself (a stdio MCP upstream: vargate_upstream_NAME), neither
// for a built-in connector
// (which names the credential by its own constant tool ID). The error is
// KindForbidden and names both places, never the value.
func checkBinding(toolID string, p Purpose) error {
	b, ok := BindingOf(toolID)
	if !ok {
		return vargate.Errorf(vargate.KindForbidden,
			"credential %q is bound to no host or connector; register it again with tool_id %q", toolID, HostToolPrefix+"HOST")
	}
	h := strings.ToLower(strings.TrimSuffix(p.Host, "."))
	switch {
	case b.Host != "" && h == b.Host && p.Connector == "":
		return nil
	case b.Connector != "" && h == "" && (p.Connector == "" || p.Connector == b.Connector):
		return nil
	case h != "":
		return vargate.Errorf(vargate.KindForbidden, "credential %q is bound to %s; it is never sent to %s", toolID, b, h)
	case p.Connector != "":
		return vargate.Errorf(vargate.KindForbidden, "credential %q is bound to %s; it is never given to %s", toolID, b, p.Connector)
	}
	return vargate.Errorf(vargate.KindForbidden, "credential %q is bound to %s, not to a built-in connector", toolID, b)
}

// forbiddenHeaders are never set by a credential or a tool's template:
// they frame the connection or the message, or address a proxy.
var forbiddenHeaders = []string{"connection", "content-length", "expect", "host", "keep-alive",
	"proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}

// ForbiddenHeader reports whether an HTTP header name may not be chosen
// by a credential, a tenant tool or an agent (Host, Connection, Upgrade,
// TE, Proxy-Authorization, Content-Length, …). Case does not matter.
func ForbiddenHeader(name string) bool {
	return slices.Contains(forbiddenHeaders, strings.ToLower(name))
}
