package anomaly

// This file finds the files interpreter code writes, downloads to and
// loads as native libraries, so that the path rules apply to them as they
// do to shell redirections.

import (
	"regexp"
	"strings"
)

// codeWritePatterns capture the path a piece of code opens for writing;
// a second group, when present, is the mode or the redirection.
var codeWritePatterns = []*regexp.Regexp{
	// open("p", "w") / io.open / fopen (Python, Lua, PHP, C, Ruby)
	regexp.MustCompile(`(?:open|fopen|File\.open)\(\s*["']([^"'\n]+)["']\s*,\s*["']([wa])`),
	// Perl three-argument open(F, ">>", "p")
	regexp.MustCompile(`open\s*\(?\s*(?:my\s+)?[$\w]+\s*,\s*["'](>>?)["']\s*,\s*["']([^"'\n]+)["']`),
	// Perl two-argument open(F, ">>p")
	regexp.MustCompile(`open\s*\(?\s*(?:my\s+)?[$\w]+\s*,\s*["'](>>?)\s*([^"'\n]+)["']`),
	// whole-file writers
	regexp.MustCompile(`(?:file_put_contents|File\.write|IO\.write|writeFileSync|appendFileSync|writeFile|appendFile|Files\.write|spurt|write_text|write_bytes|urlretrieve\(\s*["'][^"']+["']\s*,)\s*\(?\s*["']([^"'\n]+)["']`),
	// pathlib.Path("p").write_text
	regexp.MustCompile(`Path\(\s*["']([^"'\n]+)["']\s*\)\.write_`),
}

// awkWritePattern captures awk's print > "p" and print >> "p".
var awkWritePattern = regexp.MustCompile(`(>>?)\s*["']([^"'\n]+)["']`)

type codeWrite struct {
	path   string
	append bool
}

// codeWriteTargets returns the files code opens for writing.
func codeWriteTargets(lang, code string) []codeWrite {
	if !strings.Contains(code, "open") && !strings.Contains(code, "write") && !strings.Contains(code, "Write") &&
		!strings.Contains(code, "put_contents") && !strings.Contains(code, "urlretrieve") && !strings.Contains(code, "spurt") &&
		!(lang == "awk" && strings.Contains(code, ">")) {
		return nil
	}
	var out []codeWrite
	addMatch := func(path, mode string) {
		if path != "" && len(out) < 8 {
			out = append(out, codeWrite{path: path, append: mode == "a" || mode == ">>"})
		}
	}
	for i, re := range codeWritePatterns {
		for _, m := range re.FindAllStringSubmatch(code, 4) {
			switch i {
			case 0:
				addMatch(m[1], m[2])
			case 1, 2:
				addMatch(strings.TrimSpace(m[2]), m[1])
			default:
				addMatch(m[1], "")
			}
		}
	}
	if lang == "awk" {
		for _, m := range awkWritePattern.FindAllStringSubmatch(code, 4) {
			addMatch(m[2], m[1])
		}
	}
	return out
}

// codeLibraryLoad reports a native library that code loads from a
// temporary or hidden path.
func codeLibraryLoad(low string, lits []string) (string, bool) {
	if !containsAny(low, []string{"cdll", "dlopen", "ctypes", "ffi", "load_library", "loadlibrary", "dl(", "require(", "loadlib", "native"}) {
		return "", false
	}
	for _, l := range lits {
		ll := strings.ToLower(l)
		if (strings.HasSuffix(ll, ".so") || strings.Contains(ll, ".so.") || strings.HasSuffix(ll, ".dylib") || strings.HasSuffix(ll, ".node") || strings.HasSuffix(ll, ".dll")) &&
			(hiddenOrTemp(normalizePath(l)) || strings.Contains(l, "/.")) {
			return l, true
		}
	}
	return "", false
}

// libraryOption judges programs told to load a native library from a
// path (ssh-keygen -D, ssh -I, openssl -engine/-provider).
func (s *scan) libraryOption(c *call) {
	var opts []string
	switch c.name {
	case "ssh-keygen":
		opts = []string{"-D"}
	case "ssh", "ssh-add":
		opts = []string{"-I", "-s", "-e"}
	case "openssl":
		opts = []string{"-engine", "-provider", "-provider-path"}
	default:
		return
	}
	args := c.rest()
	for i, a := range args {
		for _, o := range opts {
			if a.s != o || i+1 >= len(args) {
				continue
			}
			p := args[i+1].s
			if !strings.Contains(p, "/") && !strings.Contains(p, ".so") && !strings.Contains(p, ".dylib") {
				continue // an engine or provider by name
			}
			n := normalizePath(p)
			switch {
			case hiddenOrTemp(n) || strings.Contains(p, "/."):
				s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, c.name+" loads the native library "+p+" from a temporary or hidden path")
			case !strings.HasPrefix(n, "/usr/") && !strings.HasPrefix(n, "/lib") && !strings.HasPrefix(n, "/opt/") && !strings.HasPrefix(n, "/Library/"):
				s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, c.name+" loads the native library "+p)
			}
		}
	}
}

// ruleSocketDownload judges a raw network client whose output goes to a
// file: a download from that host, remembered so that running the file
// later is download-and-execute.
func (s *scan) ruleSocketDownload(c *call) {
	if !s.netClient(c) || c.stdout == "" || c.stdout == "/dev/null" || c.hasShort('l') || c.hasShort('z') {
		return
	}
	host := s.sinkHost(c)
	if !host.untrusted() {
		return
	}
	if s.st.downloads == nil {
		s.st.downloads = make(map[string]hostInfo)
	}
	s.st.downloads[cleanPathArg(c.stdout)] = host
	s.flag(CategoryUntrustedHost, max(SeverityMedium, host.exfilSeverity()-1), c.evidence, "receives a file over a raw connection from "+host.describe())
}

// ruleSniff judges packet capture aimed at credentials.
func (s *scan) ruleSniff(c *call) {
	args := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	switch c.name {
	case "ip":
		if strings.Contains(args, "promisc on") {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "puts a network interface in promiscuous mode (sniffing)")
		}
		return
	case "ifconfig":
		if strings.Contains(args, "promisc") && !strings.Contains(args, "-promisc") {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "puts a network interface in promiscuous mode (sniffing)")
		}
		return
	case "ettercap", "arpspoof", "bettercap", "dsniff", "mitm6", "tcpflow":
		if c.name != "tcpflow" {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, c.name+" intercepts other hosts' traffic")
		}
		return
	}
	if c.hasShort('r') && !c.hasShort('w') && !c.hasShort('i') {
		return // reads a saved capture
	}
	for i, a := range c.rest() {
		if a.s == "-w" && i+1 < len(c.rest()) && hiddenOrTemp(normalizePath(c.rest()[i+1].s)) {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "captures network traffic into a hidden or temporary file")
			return
		}
	}
	for _, k := range []string{"port 21", "port 23", "port 110", "port 143", "port 389", "port 1521", "pass", "authorization", "cookie",
		"http.file_data", "http.request.method", "ftp.request", "-a ", "smtp.auth", "http.authbasic"} {
		if strings.Contains(args+" ", k) {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "captures cleartext credentials from network traffic")
			return
		}
	}
}
