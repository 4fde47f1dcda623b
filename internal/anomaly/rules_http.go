package anomaly

// This file holds the rules for HTTP clients (curl, wget and others):
// URLs, uploads and downloads.

import (
	"path"
	"strings"
)

// urlReport is what a URL reveals.
type urlReport struct {
	raw        string
	scheme     string
	host       hostInfo
	rest       string // path, query, fragment
	secret     string // a credential embedded in the URL
	longData   bool   // a long encoded run in the path or query
	dynamic    bool   // host contains an unresolved expansion
	attackTool string // a well-known attack tool in the path
}

// attackTools are names of privilege-escalation and credential-dumping
// tools that agents have no business fetching or running.
var attackTools = []string{"linpeas", "linenum", "linux-exploit-suggester", "les.sh", "pspy", "lazagne", "mimikatz", "winpeas", "peass", "gtfobins", "sudo_killer", "traitor", "deepce", "cdk_linux", "beroot"}

func attackToolIn(s string) string {
	ls := strings.ToLower(s)
	for _, t := range attackTools {
		if strings.Contains(ls, t) {
			return t
		}
	}
	return ""
}

func (d *Detector) inspectURL(raw string) urlReport {
	r := urlReport{raw: raw}
	var host string
	r.scheme, host, r.rest = splitURL(raw)
	r.dynamic = strings.ContainsAny(host, "$`") || strings.Contains(host, "(…)")
	r.host = d.classifyHost(host)
	lh := r.host.host
	if (lh == "discord.com" || lh == "discordapp.com" || strings.HasSuffix(lh, ".discord.com")) && strings.Contains(r.rest, "/api/webhooks") && r.host.class != hostAllowed {
		r.host.class, r.host.service = hostShady, "Discord webhook"
	}
	if sec, ok := containsSecret(raw); ok {
		r.secret = sec
	}
	if q := strings.IndexByte(r.rest, '?'); q >= 0 && longEncodedRun(r.rest[q:]) >= 48 {
		r.longData = true
	}
	r.attackTool = attackToolIn(r.rest)
	return r
}

// curlRequest is a parsed curl command line.
type curlRequest struct {
	urls    []arg
	data    []curlData
	headers []arg
	output  string // -o
	remote  bool   // -O / --remote-name
	proxy   string
}

type curlData struct {
	file  string // "@file" / "=<file" / -T file ("-" is stdin)
	value arg    // the inline data
}

// curl short options that take a value.
const curlShortValue = "bcdeoruwxyzACDEFHKPQTUXY"

func curlLongTakesValue(name string) bool {
	switch name {
	case "data", "data-ascii", "data-binary", "data-raw", "data-urlencode", "json", "form", "form-string", "header",
		"output", "upload-file", "url", "user", "request", "proxy", "cookie", "cookie-jar", "user-agent", "referer",
		"max-time", "connect-timeout", "retry", "write-out", "config", "cacert", "cert", "key", "resolve", "connect-to",
		"interface", "dns-servers", "doh-url", "socks5", "socks5-hostname", "socks4", "socks4a", "preproxy", "range",
		"limit-rate", "output-dir", "variable", "oauth2-bearer", "proxy-user", "retry-delay", "retry-max-time",
		"max-filesize", "speed-limit", "speed-time", "capath", "trace", "trace-ascii", "dump-header", "ciphers",
		"local-port", "netrc-file", "unix-socket", "abstract-unix-socket", "aws-sigv4", "mail-from", "mail-rcpt", "expect100-timeout":
		return true
	}
	return false
}

func parseCurl(c *call) curlRequest {
	var r curlRequest
	args := c.rest()
	addData := func(name string, v arg) {
		switch name {
		case "d", "data", "data-ascii", "data-binary", "json":
			if strings.HasPrefix(v.s, "@") {
				r.data = append(r.data, curlData{file: v.s[1:]})
				return
			}
		case "data-urlencode":
			if i := strings.IndexByte(v.s, '@'); i >= 0 && !strings.Contains(v.s[:i], "=") {
				r.data = append(r.data, curlData{file: v.s[i+1:]})
				return
			}
		case "F", "form":
			if i := strings.IndexByte(v.s, '='); i >= 0 && i+1 < len(v.s) && (v.s[i+1] == '@' || v.s[i+1] == '<') {
				f := v.s[i+2:]
				if j := strings.IndexByte(f, ';'); j >= 0 {
					f = f[:j]
				}
				r.data = append(r.data, curlData{file: f})
				return
			}
		case "T", "upload-file":
			r.data = append(r.data, curlData{file: v.s})
			return
		case "H", "header":
			r.headers = append(r.headers, v)
			return
		case "o", "output":
			r.output = v.s
			return
		case "url":
			r.urls = append(r.urls, v)
			return
		case "x", "proxy", "socks5", "socks5-hostname", "socks4", "socks4a", "preproxy":
			r.proxy = v.s
			return
		default:
			return
		}
		r.data = append(r.data, curlData{value: v})
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a.s == "--":
			r.urls = append(r.urls, args[i+1:]...)
			return r
		case strings.HasPrefix(a.s, "--"):
			name, val, hasVal := strings.Cut(a.s[2:], "=")
			if name == "remote-name" || name == "remote-name-all" {
				r.remote = true
			}
			if curlLongTakesValue(name) {
				v := arg{s: val, w: a.w}
				if !hasVal && i+1 < len(args) {
					i++
					v = args[i]
				}
				addData(name, v)
			}
		case len(a.s) > 1 && a.s[0] == '-':
			for j := 1; j < len(a.s); j++ {
				ch := a.s[j]
				if ch == 'O' {
					r.remote = true
					continue
				}
				if strings.IndexByte(curlShortValue, ch) < 0 {
					continue
				}
				v := arg{s: a.s[j+1:], w: a.w}
				if v.s == "" && i+1 < len(args) {
					i++
					v = args[i]
				}
				addData(string(ch), v)
				break
			}
		default:
			r.urls = append(r.urls, a)
		}
	}
	return r
}

func curlOutputsToFile(c *call) bool {
	r := parseCurl(c)
	return (r.output != "" && r.output != "-" && r.output != "/dev/stdout") || r.remote || (c.stdout != "" && c.stdout != "/dev/stdout")
}

// wgetOutput returns wget's output file ("-" for stdout).
func wgetOutput(c *call) string {
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		switch {
		case a == "-O" || a == "--output-document":
			if i+1 < len(args) {
				return args[i+1].s
			}
		case strings.HasPrefix(a, "--output-document="):
			return strings.TrimPrefix(a, "--output-document=")
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--"):
			if j := strings.IndexByte(a, 'O'); j > 0 {
				if j+1 < len(a) {
					return a[j+1:]
				}
				if i+1 < len(args) {
					return args[i+1].s
				}
			}
		}
	}
	// without -O, wget names each download after its URL; the first
	// URL's file is the one the rules follow
	urls := wgetURLs(c)
	if len(urls) == 0 {
		return ""
	}
	_, _, rest := splitURL(urls[0].s)
	if q := strings.IndexAny(rest, "?#"); q >= 0 {
		rest = rest[:q]
	}
	b := path.Base(rest)
	if b == "." || b == "/" || b == "" {
		return "index.html"
	}
	return b
}

func wgetURLs(c *call) []arg {
	var out []arg
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") && (a == "-O" || a == "-o" || a == "-a" || a == "-P" || a == "-U" || a == "-e" || a == "-t" || a == "-T" || a == "-w" ||
				a == "--header" || a == "--post-data" || a == "--post-file" || a == "--user" || a == "--password" || a == "--method" || a == "--body-data" || a == "--body-file" || a == "-i") {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// urlArgs returns the URL arguments of a network command.
func (s *scan) urlArgs(c *call) []arg {
	switch c.name {
	case "curl":
		return parseCurl(c).urls
	case "wget":
		return wgetURLs(c)
	}
	var out []arg
	for _, a := range c.rest() {
		if strings.Contains(a.s, "://") || !strings.HasPrefix(a.s, "-") && strings.Contains(a.s, ".") && looksLikeHost(hostPart(a.s)) {
			out = append(out, a)
		}
	}
	return out
}

func hostPart(s string) string {
	_, h, _ := splitURL(s)
	return h
}

func (s *scan) firstURLHost(c *call) hostInfo {
	for _, u := range s.urlArgs(c) {
		return s.d.inspectURL(u.s).host
	}
	return hostInfo{}
}

// checkURL applies the checks every fetched URL gets.
func (s *scan) checkURL(c *call, u arg, r urlReport) {
	ev := c.evidence
	class := r.host.class
	if r.dynamic {
		class = hostNone
	}
	switch class {
	case hostMetadata:
		s.flag(CategoryCredentialAccess, SeverityCritical, ev, "queries the "+r.host.describe()+", which hands out the machine's cloud credentials")
	case hostShady:
		s.flag(CategoryUntrustedHost, SeverityMedium, ev, "contacts "+r.host.describe())
	case hostRawIP:
		s.flag(CategoryUntrustedHost, SeverityMedium, ev, "contacts a "+r.host.describe()+" instead of a domain name")
	case hostOutside:
		s.flag(CategoryUntrustedHost, SeverityLow, ev, "contacts "+r.host.describe())
	}
	if r.host.obfuscated {
		s.flag(CategoryObfuscation, SeverityMedium, ev, "IP address written in integer, hex or octal form to hide it")
	}
	switch r.scheme {
	case "file":
		_, _, p := splitURL(u.s)
		if info, ok := classifyRead(p); ok {
			s.flag(CategoryCredentialAccess, info.sev, ev, "reads "+info.what+" through a file:// URL")
		}
	case "gopher", "dict", "ldap", "tftp":
		s.flag(CategoryUntrustedHost, SeverityHigh, ev, "uses the "+r.scheme+":// scheme, typical of server-side request forgery")
	}
	if r.attackTool != "" {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, ev, "fetches the attack tool "+r.attackTool)
	}
	secretVar := u.w != nil && len(u.w.secretVars) > 0
	if (r.secret != "" || secretVar) && r.host.untrusted() {
		s.flag(CategoryExfiltration, SeverityHigh, ev, "puts a credential into a URL for "+r.host.describe())
	} else if r.longData && r.host.untrusted() && r.host.class != hostUnknown {
		s.flag(CategoryExfiltration, SeverityMedium, ev, "sends a long encoded value in the query string to "+r.host.describe())
	}
	if r.dynamic {
		if h := hostPart(u.s); !strings.ContainsAny(h, "`(") && !strings.Contains(strings.TrimLeft(strings.TrimPrefix(h, "$"), "{"), ".") && !strings.Contains(h, "…") {
			// the whole destination comes from a variable we could not
			// resolve (curl "$WEBHOOK_URL"): nothing is hidden in it
			s.flag(CategoryUntrustedHost, SeverityLow, ev, "sends to a destination taken from a variable")
			return
		}
		if s.loop > 0 && ipLikeWithVar(hostPart(u.s)) {
			s.flag(CategoryNetworkScan, SeverityMedium, ev, "sweeps addresses in a loop")
		} else {
			s.flag(CategoryExfiltration, SeverityHigh, ev, "builds the destination host name from command output (data hidden in DNS)")
		}
	}
}

// ipLikeWithVar reports whether h is an IPv4 address with a variable
// part, as in a ping sweep (192.168.1.$i).
func ipLikeWithVar(h string) bool {
	if !strings.Contains(h, "$") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '$' || c == '{' || c == '}' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	dots := strings.Count(h, ".")
	return dots == 3 && h[0] >= '0' && h[0] <= '9'
}

// upload judges data a command sends: files, inline values, stdin.
func (s *scan) upload(c *call, host hostInfo, files []string, inline []arg) {
	ev := c.evidence
	for _, f := range files {
		if f == "-" || f == "/dev/stdin" || f == "" {
			continue
		}
		info, sensitive := classifyRead(f)
		switch {
		case sensitive && info.sev >= SeverityMedium && host.class == hostLocal:
		case sensitive && info.sev >= SeverityMedium && host.untrusted():
			s.flag(CategoryExfiltration, SeverityCritical, ev, "uploads "+info.what+" ("+f+") to "+host.describe())
		case sensitive && info.sev >= SeverityMedium:
			s.flag(CategoryExfiltration, SeverityMedium, ev, "uploads "+info.what+" ("+f+") to "+host.describe())
		default:
			if sev := host.exfilSeverity(); sev > SeverityNone {
				s.flag(CategoryExfiltration, sev, ev, "uploads the file "+f+" to "+host.describe())
			}
		}
	}
	for _, v := range inline {
		w := v.w
		if w == nil {
			continue
		}
		switch {
		case (w.substReads >= SeverityMedium || len(w.secretVars) > 0) && host.untrusted():
			sev := SeverityCritical
			if host.class == hostUnknown {
				sev = SeverityHigh
			}
			s.flag(CategoryExfiltration, sev, ev, "sends credentials to "+host.describe())
		case w.hasSubst && !w.substStatic && host.untrusted() && host.class != hostUnknown:
			s.flag(CategoryExfiltration, max(host.exfilSeverity(), SeverityMedium), ev, "sends command output to "+host.describe())
		case host.class == hostShady || host.class == hostRawIP:
			s.flag(CategoryExfiltration, SeverityMedium, ev, "posts data to "+host.describe())
		}
	}
}

func (s *scan) ruleCurl(c *call) {
	r := parseCurl(c)
	var host hostInfo
	for i, u := range r.urls {
		rep := s.d.inspectURL(u.s)
		if i == 0 {
			host = rep.host
		}
		s.checkURL(c, u, rep)
	}
	var files []string
	var inline []arg
	for _, d := range r.data {
		if d.file != "" {
			files = append(files, d.file)
		} else {
			inline = append(inline, d.value)
		}
	}
	s.upload(c, host, files, inline)
	for _, h := range r.headers {
		if h.w != nil && (len(h.w.secretVars) > 0 || h.w.substReads >= SeverityMedium) && host.untrusted() {
			s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "sends a credential in a header to "+host.describe())
		}
	}
	if strings.Contains(r.proxy, "9050") || strings.Contains(r.proxy, "9150") {
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "routes the request through Tor")
	}
	s.recordDownload(c, host, r.output, r.remote, r.urls)
}

// recordDownload remembers where a download was written, or notes that
// it went to stdout.
func (s *scan) recordDownload(c *call, host hostInfo, output string, remote bool, urls []arg) {
	if len(urls) == 0 {
		return
	}
	file := output
	if remote && file == "" {
		_, _, rest := splitURL(urls[0].s)
		if q := strings.IndexAny(rest, "?#"); q >= 0 {
			rest = rest[:q]
		}
		file = path.Base(rest)
	}
	if c.stdout != "" && c.stdout != "/dev/stdout" {
		file = c.stdout
	}
	if file == "" || file == "-" || file == "/dev/stdout" {
		s.obs.download, s.obs.downloadHost = true, host
		return
	}
	if s.st.downloads == nil {
		s.st.downloads = make(map[string]hostInfo)
	}
	if len(s.st.downloads) < 64 {
		s.st.downloads[cleanPathArg(file)] = host
	}
}

func (s *scan) ruleWget(c *call) {
	urls := wgetURLs(c)
	var host hostInfo
	for i, u := range urls {
		rep := s.d.inspectURL(u.s)
		if i == 0 {
			host = rep.host
		}
		s.checkURL(c, u, rep)
	}
	var files []string
	var inline []arg
	args := c.rest()
	for i, a := range args {
		for _, opt := range []string{"--post-file", "--body-file"} {
			if v, ok := strings.CutPrefix(a.s, opt+"="); ok {
				files = append(files, v)
			} else if a.s == opt && i+1 < len(args) {
				files = append(files, args[i+1].s)
			}
		}
		for _, opt := range []string{"--post-data", "--body-data", "--header"} {
			if v, ok := strings.CutPrefix(a.s, opt+"="); ok {
				w := a.w
				inline = append(inline, arg{s: v, w: w})
			} else if a.s == opt && i+1 < len(args) {
				inline = append(inline, args[i+1])
			}
		}
	}
	s.upload(c, host, files, inline)
	out := wgetOutput(c)
	if out == "-" || out == "/dev/stdout" {
		out = ""
	}
	s.recordDownload(c, host, out, false, urls)
}

// ruleURLs covers other HTTP clients (httpie, fetch, aria2c …).
func (s *scan) ruleURLs(c *call) {
	urls := s.urlArgs(c)
	var host hostInfo
	for i, u := range urls {
		rep := s.d.inspectURL(u.s)
		if i == 0 {
			host = rep.host
		}
		s.checkURL(c, u, rep)
	}
	if ok, _ := s.isDownloader(c); ok {
		s.obs.download, s.obs.downloadHost = true, host
	}
}
