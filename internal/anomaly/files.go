package anomaly

import (
	"net/url"
	"path"
	"strings"
)

// checkTraversal flags path traversal and encoding tricks in a file
// tool's path, and returns the path to classify (decoded, and with a
// traversal prefix resolved against the root when it names a system
// directory).
func checkTraversal(f *findings, p string) string {
	raw := p
	if strings.ContainsRune(p, 0) {
		f.add(CategoryObfuscation, SeverityHigh, raw, "NUL byte in a file path (truncation trick)")
		p = strings.ReplaceAll(p, "\x00", "")
	}
	if strings.Contains(p, "%") {
		if dec, err := url.PathUnescape(p); err == nil && dec != p {
			if strings.Contains(dec, "..") || strings.Contains(dec, "%") {
				f.add(CategoryObfuscation, SeverityMedium, raw, "URL-encoded characters in a file path")
			}
			p = dec
			if d2, err := url.PathUnescape(p); err == nil {
				p = d2
			}
		}
	}
	p = strings.ReplaceAll(p, `\`, "/")
	ups := 0
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			ups++
		}
	}
	if ups == 0 {
		return p
	}
	clean := path.Clean(p)
	switch {
	case strings.HasPrefix(p, "/") && ups >= 2:
		f.add(CategoryPathTraversal, SeverityHigh, raw, "climbs out of a directory with ../ to "+clean)
	case !strings.HasPrefix(p, "/") && strings.HasPrefix(clean, "../../../"):
		f.add(CategoryPathTraversal, SeverityHigh, raw, "climbs three or more directories up with ../")
	case !strings.HasPrefix(p, "/") && strings.HasPrefix(clean, "../../"):
		f.add(CategoryPathTraversal, SeverityMedium, raw, "climbs two directories up with ../")
	}
	if !strings.HasPrefix(clean, "../") {
		return clean
	}
	rest := strings.TrimLeft(strings.ReplaceAll(clean, "../", ""), "./")
	for _, top := range []string{"etc/", "proc/", "root/", "home/", "var/", "usr/", "sys/", "dev/", "boot/", "run/"} {
		if strings.HasPrefix(rest, top) {
			return "/" + rest
		}
	}
	return clean
}

func (d *Detector) readFile(f *findings, p string) {
	if p == "" {
		return
	}
	p = checkTraversal(f, p)
	if info, ok := classifyRead(p); ok {
		f.add(CategoryCredentialAccess, info.sev, p, "reads "+info.what)
		return
	}
	n := normalizePath(p)
	if strings.HasPrefix(n, "/proc/") || strings.HasPrefix(n, "/sys/") || strings.HasPrefix(n, "/dev/") {
		f.add(CategorySensitivePath, SeverityLow, p, "reads kernel or process information")
	}
}

// scriptLanguage returns how file content will be run: "sh" for shell,
// an interpreter name for code, "" when it is not a script.
func scriptLanguage(p, content string) string {
	base := strings.ToLower(path.Base(p))
	if strings.HasPrefix(content, "#!") {
		line, _, _ := strings.Cut(content, "\n")
		switch {
		case strings.Contains(line, "python"):
			return "python"
		case strings.Contains(line, "perl"):
			return "perl"
		case strings.Contains(line, "node"):
			return "node"
		case strings.Contains(line, "ruby"):
			return "ruby"
		case strings.Contains(line, "sh"):
			return "sh"
		}
	}
	switch {
	case strings.HasSuffix(base, ".sh") || strings.HasSuffix(base, ".bash") || strings.HasSuffix(base, ".zsh") || strings.HasSuffix(base, ".ksh") ||
		base == ".bashrc" || base == ".profile" || base == ".bash_profile" || base == ".zshrc" || base == "rc.local":
		return "sh"
	case base == "makefile" || base == "gnumakefile" || strings.HasSuffix(base, ".mk"):
		return "make"
	case base == "dockerfile" || strings.HasSuffix(base, ".dockerfile") || strings.HasPrefix(base, "dockerfile."):
		return "docker"
	case strings.HasSuffix(base, ".service") || strings.HasSuffix(base, ".timer"):
		return "service"
	case strings.Contains(p, "cron"):
		return "cron"
	case strings.HasSuffix(base, ".ps1") || strings.HasSuffix(base, ".psm1"):
		return "powershell"
	case strings.HasSuffix(base, ".bat") || strings.HasSuffix(base, ".cmd"):
		return "sh" // analysed line by line; Windows lines are judged on their words
	}
	// source files by extension: small ones (payloads are small; whole
	// programs mix sockets and processes legitimately) and dropped ones
	if len(content) <= 2048 || hiddenOrTemp(normalizePath(p)) {
		switch path.Ext(base) {
		case ".py":
			return "python"
		case ".pl", ".pm":
			return "perl"
		case ".js", ".mjs", ".cjs", ".ts":
			return "node"
		case ".rb":
			return "ruby"
		case ".php", ".lua", ".go", ".c", ".cc", ".cpp", ".rs", ".java", ".jl", ".r", ".tcl", ".groovy", ".kt", ".swift", ".cs":
			return "source"
		}
	}
	return ""
}

// scriptCommands extracts the shell commands of a Makefile recipe or
// Dockerfile RUN lines.
func scriptCommands(lang, content string) string {
	var b strings.Builder
	for _, line := range strings.Split(content, "\n") {
		switch lang {
		case "make":
			if strings.HasPrefix(line, "\t") {
				b.WriteString(strings.TrimLeft(strings.TrimSpace(line), "@-+"))
				b.WriteByte('\n')
			}
		case "docker":
			t := strings.TrimSpace(line)
			if len(t) > 4 && strings.EqualFold(t[:4], "RUN ") {
				b.WriteString(t[4:])
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}

func (d *Detector) writeFile(f *findings, p, content string, edit bool) {
	if p == "" {
		return
	}
	p = checkTraversal(f, p)
	from := len(f.flags)
	defer func() { f.noteWrote(p, from) }()
	st := &scanState{}
	s := &scan{d: d, f: f, st: st, src: content}
	c := &call{evidence: p, written: &content}
	wi, ok := classifyWrite(p)
	if ok {
		s.writeTo(c, p, edit)
		if wi.kind == writeShellRC || wi.kind == writeCron || wi.kind == writeService || wi.kind == writePythonStartup || wi.kind == writeHook {
			return // the content was analysed as part of the write
		}
	} else if info, ok := classifyRead(p); ok && info.sev >= SeverityHigh {
		f.add(CategoryCredentialAccess, SeverityMedium, p, "overwrites "+info.what)
	}
	if content == "" {
		return
	}
	if path.Base(p) == "package.json" {
		s.origin = "install script in " + p
		for _, script := range lifecycleScripts(content) {
			s.run(script)
		}
		s.origin = ""
		s.src = content
	}
	lang := scriptLanguage(p, content)
	origin := "script written to " + p
	switch lang {
	case "sh":
		s.origin = origin
		s.run(content)
	case "make", "docker":
		s.origin = origin
		s.run(scriptCommands(lang, content))
	case "python", "perl", "node", "ruby", "source":
		s.code(c, lang, content, origin)
	case "powershell":
		s.origin = origin
		c.evidence = shorten(content, maxEvidence)
		s.powerShellCode(c, content)
	}
}

func (d *Detector) globFiles(f *findings, pattern, root string) {
	if pattern == "" {
		return
	}
	full := pattern
	if root != "" && !strings.HasPrefix(pattern, "/") && !strings.HasPrefix(pattern, "~") {
		full = strings.TrimSuffix(root, "/") + "/" + pattern
	}
	full = checkTraversal(f, full)
	broad := broadRoot(root) || strings.HasPrefix(pattern, "/") || strings.HasPrefix(pattern, "~")
	if sev, ok := huntsSecrets(pattern); ok {
		if !broad {
			sev = SeverityLow
		}
		f.add(CategoryCredentialAccess, sev, full, "searches for credential files ("+pattern+")")
		return
	}
	if info, ok := classifyRead(full); ok && info.sev >= SeverityMedium {
		f.add(CategoryCredentialAccess, info.sev-1, full, "lists "+info.what)
	}
}

var secretSearchWords = []string{"password", "passwd", "secret", "token", "api_key", "apikey", "api-key", "private key", "private_key",
	"credential", "aws_secret", "akia", "ghp_", "sk-ant", "begin rsa", "begin openssh", "begin ec", "begin dsa", "begin pgp"}

// secretSearch grades searching file contents under root for pattern.
func secretSearch(pattern, root string) (Severity, string) {
	low := strings.ToLower(pattern)
	secret := containsAny(low, secretSearchWords)
	keyMaterial := strings.Contains(low, "private key") || strings.Contains(low, "begin") || strings.Contains(low, "akia") || strings.Contains(low, "ghp_") || strings.Contains(low, "sk-ant")
	switch {
	case secret && broadRoot(root) && keyMaterial:
		return SeverityHigh, "searches the system for key material (" + pattern + ")"
	case secret && broadRoot(root):
		return SeverityMedium, "searches outside the project for secrets (" + pattern + ")"
	case keyMaterial:
		return SeverityLow, "searches for key material (" + pattern + ")"
	}
	return SeverityNone, ""
}

func (d *Detector) grepFiles(f *findings, pattern, root string) {
	if root != "" {
		root = checkTraversal(f, root)
		if info, ok := classifyRead(root); ok {
			f.add(CategoryCredentialAccess, info.sev, root, "searches inside "+info.what)
			return
		}
	}
	if sev, why := secretSearch(pattern, root); sev > SeverityNone {
		f.add(CategoryCredentialAccess, sev, root+" "+pattern, why)
	}
}

func (d *Detector) webFetch(f *findings, u string) {
	u = strings.TrimSpace(u)
	if u == "" {
		return
	}
	r := d.inspectURL(u)
	switch r.scheme {
	case "http", "https", "":
	case "file":
		_, _, p := splitURL(u)
		if info, ok := classifyRead(p); ok {
			f.add(CategoryCredentialAccess, info.sev, u, "reads "+info.what+" through a file:// URL")
		}
		f.add(CategoryUntrustedHost, SeverityHigh, u, "fetches a local file with a file:// URL")
		return
	default:
		f.add(CategoryUntrustedHost, SeverityHigh, u, "fetches a "+r.scheme+":// URL")
		return
	}
	switch r.host.class {
	case hostMetadata:
		f.add(CategoryCredentialAccess, SeverityCritical, u, "fetches the "+r.host.describe()+", which hands out cloud credentials")
	case hostRawIP:
		f.add(CategoryUntrustedHost, SeverityHigh, u, "fetches a "+r.host.describe()+" instead of a domain name")
	case hostShady:
		f.add(CategoryUntrustedHost, SeverityHigh, u, "fetches "+r.host.describe())
	case hostOutside:
		f.add(CategoryUntrustedHost, SeverityMedium, u, "fetches "+r.host.describe())
	case hostLocal, hostPrivate:
		f.add(CategoryUntrustedHost, SeverityMedium, u, "fetches an internal address, "+r.host.describe()+" (server-side request forgery)")
	case hostNone:
		f.add(CategoryUntrustedHost, SeverityLow, u, "fetches a URL without a host")
	}
	if r.host.obfuscated {
		f.add(CategoryObfuscation, SeverityMedium, u, "IP address written in integer, hex or octal form to hide it")
	}
	switch {
	case r.secret != "" && r.host.class == hostAllowed:
		f.add(CategoryExfiltration, SeverityMedium, u, "puts a credential into a URL")
	case r.secret != "":
		f.add(CategoryExfiltration, SeverityHigh, u, "puts a credential into a URL for "+r.host.describe())
	case r.longData && r.host.untrusted():
		f.add(CategoryExfiltration, SeverityMedium, u, "sends a long encoded value in the query string to "+r.host.describe())
	}
	if r.host.class == hostShady && strings.Contains(r.host.service, "interaction") {
		f.add(CategoryExfiltration, SeverityHigh, u, "contacts "+r.host.describe()+", used to confirm and carry out data exfiltration")
	}
	if r.attackTool != "" {
		f.add(CategoryPrivilegeEscalation, SeverityMedium, u, "fetches the attack tool "+r.attackTool)
	}
}

func (d *Detector) webSearch(f *findings, q string) {
	if sec, ok := containsSecret(q); ok {
		f.add(CategoryExfiltration, SeverityHigh, sec, "search query contains a credential")
		return
	}
	if longEncodedRun(q) >= 48 {
		f.add(CategoryExfiltration, SeverityMedium, q, "search query carries a long encoded value")
	}
}
