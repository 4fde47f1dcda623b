package anomaly

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// hostClass is what the detector knows about a network destination.
type hostClass int

const (
	hostNone     hostClass = iota // no host, or not a network address
	hostLocal                     // loopback, localhost
	hostPrivate                   // RFC 1918, link-local, ULA, *.internal, single-label names
	hostAllowed                   // matches the profile's allowed domains
	hostUnknown                   // a public name, and no allowlist is configured
	hostOutside                   // a public name outside the allowed domains
	hostRawIP                     // a public IP literal
	hostShady                     // paste, file-drop, tunnel or out-of-band interaction service
	hostMetadata                  // cloud instance metadata endpoint
)

type hostInfo struct {
	host       string
	class      hostClass
	obfuscated bool   // IPv4 written as one integer, hex or octal
	service    string // for hostShady: what kind of service
}

// untrusted reports whether sending data to h is a concern: it is not
// local, private or allowed.
func (h hostInfo) untrusted() bool {
	switch h.class {
	case hostOutside, hostRawIP, hostShady, hostMetadata, hostUnknown:
		return true
	}
	return false
}

// remote reports whether h leaves the machine.
func (h hostInfo) remote() bool { return h.class != hostNone && h.class != hostLocal }

// exfilSeverity is the severity of sending ordinary data to h, and
// downloadExecSeverity the severity of running code fetched from h.
func (h hostInfo) exfilSeverity() Severity {
	switch h.class {
	case hostRawIP, hostShady, hostMetadata:
		return SeverityHigh
	case hostOutside:
		return SeverityMedium
	case hostUnknown:
		return SeverityLow
	}
	return SeverityNone
}

func (h hostInfo) downloadExecSeverity() Severity {
	switch h.class {
	case hostRawIP, hostShady, hostMetadata:
		return SeverityCritical
	case hostOutside, hostUnknown, hostNone:
		return SeverityHigh
	case hostPrivate:
		return SeverityHigh
	}
	return SeverityMedium // allowed or local: still remote code piped into a shell
}

func (h hostInfo) describe() string {
	switch h.class {
	case hostLocal:
		return "local host " + h.host
	case hostPrivate:
		return "private address " + h.host
	case hostAllowed:
		return "allowed host " + h.host
	case hostUnknown:
		return "host " + h.host
	case hostOutside:
		return "host " + h.host + " outside the allowed domains"
	case hostRawIP:
		return "raw IP address " + h.host
	case hostShady:
		return h.service + " " + h.host
	case hostMetadata:
		return "cloud metadata endpoint " + h.host
	}
	return "unknown destination"
}

// shadyServices maps domain suffixes to the kind of service they host.
// Data sent there is out of anyone's control; code fetched from there is
// usually a payload.
var shadyServices = map[string]string{
	// paste sites
	"pastebin.com": "paste service", "paste.ee": "paste service", "hastebin.com": "paste service",
	"ghostbin.co": "paste service", "termbin.com": "paste service", "ix.io": "paste service",
	"sprunge.us": "paste service", "dpaste.com": "paste service", "dpaste.org": "paste service",
	"paste.rs": "paste service", "rentry.co": "paste service", "controlc.com": "paste service",
	"justpaste.it": "paste service", "pastes.io": "paste service", "privatebin.net": "paste service",
	"pastie.org": "paste service", "paste.debian.net": "paste service",
	// anonymous file drops
	"transfer.sh": "file-drop service", "file.io": "file-drop service", "0x0.st": "file-drop service",
	"catbox.moe": "file-drop service", "temp.sh": "file-drop service", "gofile.io": "file-drop service",
	"anonfiles.com": "file-drop service", "bashupload.com": "file-drop service", "oshi.at": "file-drop service",
	"filebin.net": "file-drop service", "tmpfiles.org": "file-drop service", "keep.sh": "file-drop service",
	"uguu.se": "file-drop service", "pixeldrain.com": "file-drop service",
	// tunnels
	"ngrok.io": "tunnel service", "ngrok.app": "tunnel service", "ngrok-free.app": "tunnel service",
	"ngrok.dev": "tunnel service", "ngrok-free.dev": "tunnel service", "trycloudflare.com": "tunnel service",
	"serveo.net": "tunnel service", "serveousercontent.com": "tunnel service", "localhost.run": "tunnel service",
	"lhr.life": "tunnel service", "loca.lt": "tunnel service", "localtunnel.me": "tunnel service",
	"pagekite.me": "tunnel service", "bore.pub": "tunnel service", "tunnelto.dev": "tunnel service",
	"telebit.cloud": "tunnel service", "playit.gg": "tunnel service", "pinggy.io": "tunnel service",
	"pinggy.link": "tunnel service", "localxpose.io": "tunnel service", "loclx.io": "tunnel service",
	// request catchers and out-of-band interaction (DNS/HTTP callback) services
	"webhook.site": "request-capture service", "requestbin.com": "request-capture service",
	"requestbin.net": "request-capture service", "pipedream.net": "request-capture service",
	"requestcatcher.com": "request-capture service", "hookbin.com": "request-capture service",
	"beeceptor.com": "request-capture service", "postb.in": "request-capture service",
	"ptsv2.com": "request-capture service", "ptsv3.com": "request-capture service",
	"burpcollaborator.net": "out-of-band interaction service", "oastify.com": "out-of-band interaction service",
	"interact.sh": "out-of-band interaction service", "interactsh.com": "out-of-band interaction service",
	"oast.pro": "out-of-band interaction service", "oast.live": "out-of-band interaction service",
	"oast.site": "out-of-band interaction service", "oast.online": "out-of-band interaction service",
	"oast.fun": "out-of-band interaction service", "oast.me": "out-of-band interaction service",
	"dnslog.cn": "out-of-band interaction service", "ceye.io": "out-of-band interaction service",
	"canarytokens.com": "out-of-band interaction service", "xss.ht": "out-of-band interaction service",
	"dnsbin.zhack.ca": "out-of-band interaction service",
	// messaging APIs commonly used as drop boxes
	"api.telegram.org": "messaging bot API",
}

// metadataHosts are cloud instance metadata endpoints: they hand out the
// machine's cloud credentials.
var metadataHosts = map[string]bool{
	"169.254.169.254":          true,
	"169.254.170.2":            true, // ECS task credentials
	"fd00:ec2::254":            true,
	"100.100.100.200":          true, // Alibaba
	"metadata.google.internal": true,
	"metadata":                 true,
	"instance-data":            true,
}

// normalizeDomains lowercases entries, strips "*." and trailing dots and
// drops empty ones.
func normalizeDomains(in []string) []string {
	out := make([]string, 0, len(in))
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		d = strings.TrimPrefix(d, "*.")
		d = strings.TrimPrefix(d, ".")
		d = strings.TrimSuffix(d, ".")
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// domainMatch reports whether host is d or a subdomain of d.
func domainMatch(host, d string) bool {
	return host == d || (len(host) > len(d) && strings.HasSuffix(host, d) && host[len(host)-len(d)-1] == '.')
}

// classifyHost classifies a bare host name or IP literal (no port).
func (d *Detector) classifyHost(host string) hostInfo {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	h := hostInfo{host: host}
	if host == "" {
		return h
	}
	if metadataHosts[host] {
		h.class = hostMetadata
		return h
	}
	for _, a := range d.allowed {
		if domainMatch(host, a) {
			h.class = hostAllowed
			return h
		}
	}
	addr, obf, isIP := parseIPHost(host)
	if isIP {
		h.obfuscated = obf
		switch {
		case metadataHosts[addr.String()]:
			h.class = hostMetadata
		case addr.IsLoopback() || addr.IsUnspecified():
			h.class = hostLocal
		case addr.IsPrivate() || addr.IsLinkLocalUnicast() || isCGNAT(addr):
			h.class = hostPrivate
		default:
			h.class = hostRawIP
		}
		return h
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		h.class = hostLocal
		return h
	}
	for suffix := host; suffix != ""; {
		if s, ok := shadyServices[suffix]; ok {
			h.class, h.service = hostShady, s
			return h
		}
		i := strings.IndexByte(suffix, '.')
		if i < 0 {
			break
		}
		suffix = suffix[i+1:]
	}
	if !strings.Contains(host, ".") || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".lan") || strings.HasSuffix(host, ".svc") || strings.HasSuffix(host, ".cluster.local") {
		h.class = hostPrivate
		return h
	}
	if len(d.allowed) == 0 {
		h.class = hostUnknown
	} else {
		h.class = hostOutside
	}
	return h
}

func isCGNAT(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] == 100 && b[1]&0xc0 == 64
}

// parseIPHost parses an IP literal, including the integer, hex and octal
// spellings of IPv4 that curl and browsers accept (obf is then true).
func parseIPHost(host string) (addr netip.Addr, obf bool, ok bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), false, true
	}
	if host == "" || !(host[0] >= '0' && host[0] <= '9') {
		return netip.Addr{}, false, false
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32) // base prefix: 0x hex, 0 octal
		if err != nil {
			return netip.Addr{}, false, false
		}
		vals[i] = v
	}
	// a.b.c.d, a.b.c (c is 16 bits), a.b (b is 24 bits), a (32 bits)
	var n uint64
	for i, v := range vals {
		if i < len(vals)-1 {
			if v > 255 {
				return netip.Addr{}, false, false
			}
			n = n<<8 | v
			continue
		}
		rest := uint(8 * (4 - i))
		if v >= 1<<rest {
			return netip.Addr{}, false, false
		}
		n = n<<rest | v
	}
	if len(vals) == 1 && n < 1<<24 {
		return netip.Addr{}, false, false // a plain small number, not an address
	}
	a := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	return a, true, true
}

// splitURL extracts scheme, host (without port), and the rest of a URL
// or host-ish string. It accepts "host/path" and "host:port" without a
// scheme, as curl does.
func splitURL(s string) (scheme, host, rest string) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i > 0 && i < 12 {
		scheme = strings.ToLower(s[:i])
		s = s[i+3:]
	}
	end := strings.IndexAny(s, "/?#")
	hostport := s
	if end >= 0 {
		hostport, rest = s[:end], s[end:]
	}
	if at := strings.LastIndexByte(hostport, '@'); at >= 0 {
		hostport = hostport[at+1:]
	}
	if strings.HasPrefix(hostport, "[") {
		if j := strings.IndexByte(hostport, ']'); j > 0 {
			return scheme, hostport[1:j], rest
		}
	}
	if c := strings.LastIndexByte(hostport, ':'); c >= 0 && strings.Count(hostport, ":") == 1 {
		hostport = hostport[:c]
	}
	return scheme, hostport, rest
}

// looksLikeHost reports whether s could be a host name or IP literal.
func looksLikeHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	if s == "localhost" {
		return true
	}
	dots := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			dots++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	if dots == 0 {
		_, _, ok := parseIPHost(s)
		return ok || strings.Count(s, ":") >= 2
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	if last == "" {
		return false
	}
	// a file name like "x.sh" or "go.mod" is not a host
	switch last {
	case "sh", "py", "go", "mod", "sum", "txt", "md", "json", "yaml", "yml", "toml", "js", "ts", "tgz", "gz",
		"zip", "tar", "log", "pl", "rb", "php", "c", "h", "o", "so", "conf", "cfg", "ini", "lock", "exe", "bin",
		"pem", "key", "env", "csv", "xml", "html", "sql", "db", "img", "iso", "deb", "rpm", "whl", "jar":
		return false
	}
	return true
}

// secretPattern matches well-known credential formats.
var secretPattern = regexp.MustCompile(`AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}|` +
	`sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-)?[A-Za-z0-9]{32,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|` +
	`glpat-[A-Za-z0-9_-]{20,}|npm_[A-Za-z0-9]{36}|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}`)

var secretPrefixes = []string{"AKIA", "ASIA", "gh", "github_pat_", "sk-", "xox", "AIza", "glpat-", "npm_", "-----BEGIN", "eyJ"}

// containsSecret reports whether s contains a known credential format,
// and returns it.
func containsSecret(s string) (string, bool) {
	if len(s) < 16 {
		return "", false
	}
	// cheap prefilter: every format starts with one of these
	hit := false
	for _, p := range secretPrefixes {
		if strings.Contains(s, p) {
			hit = true
			break
		}
	}
	if !hit {
		return "", false
	}
	m := secretPattern.FindString(s)
	return m, m != ""
}

// longEncodedRun returns the length of the longest run of base64/hex
// characters in s: a long one in a URL query or DNS label carries data.
func longEncodedRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '_' || c == '-' {
			run++
			if run > best {
				best = run
			}
			continue
		}
		run = 0
	}
	return best
}

// secretName reports whether an environment variable name looks like it
// holds a credential.
func secretName(name string) bool {
	if len(name) < 3 {
		return false
	}
	u := strings.ToUpper(name)
	for _, part := range strings.FieldsFunc(u, func(r rune) bool { return r == '_' || r == '-' }) {
		switch part {
		case "SECRET", "SECRETS", "TOKEN", "TOKENS", "PASSWORD", "PASSWD", "PASS", "APIKEY", "CREDENTIAL",
			"CREDENTIALS", "PRIVATEKEY", "PAT", "AUTHTOKEN", "SESSIONTOKEN":
			return true
		}
	}
	for _, s := range []string{"API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "SECRET_KEY", "CLIENT_SECRET", "AUTH_TOKEN"} {
		if strings.Contains(u, s) {
			return true
		}
	}
	return false
}
