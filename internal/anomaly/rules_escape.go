package anomaly

// This file holds the rules for shell escapes without root: an
// interactive shell reached through a program that is not a shell
// (find -exec, an editor, an interpreter, a wrapper), files served to
// whoever connects, keyloggers and screen capture, trusted-certificate
// installs, and setup scripts written and installed on the spot.

import (
	"encoding/json"
	"path"
	"strings"
)

// launchers run their arguments as a command after options and a fixed
// number of leading operands (setarch ARCH, taskset MASK, logsave FILE).
// valueOpts are their options that take a separate value.
var launchers = map[string]struct {
	operands  int
	valueOpts string // space-separated
}{
	"setarch":          {1, ""},
	"linux32":          {0, ""},
	"linux64":          {0, ""},
	"taskset":          {1, "-c --cpu-list"},
	"rlwrap":           {0, "-f -H -P -S -e -p -q -C -l -w -b"},
	"cpulimit":         {0, "-l --limit -p --pid -e --exe"},
	"unshare":          {0, "--map-user --map-group --setgroups --propagation -S -G --root --wd"},
	"logsave":          {1, ""},
	"chrt":             {1, ""},
	"numactl":          {0, "-C -N -m -i -p --physcpubind --cpunodebind --membind --interleave --preferred"},
	"prlimit":          {0, "-p --pid"},
	"firejail":         {0, ""},
	"dbus-run-session": {0, "--config-file --dbus-daemon"},
	"softlimit":        {0, "-m -d -s -l -a -o -p -f -c -r -t"},
	"multitime":        {0, "-n -s -q"},
	"faketime":         {1, ""},
	"ld.so":            {0, "--library-path --preload --audit --argv0"},
	"sshpass":          {0, "-p -f -d -e"},
	"cgexec":           {0, "-g"},
	"systemd-inhibit":  {0, "--what --who --why --mode"},
	"run-one":          {0, ""},
}

// launcherCommand returns the index in c.args of the command a launcher
// runs, or -1.
func launcherCommand(c *call, name string) int {
	l, ok := launchers[name]
	if !ok {
		if strings.HasPrefix(name, "ld-linux") || strings.HasPrefix(name, "ld-musl") {
			l = launchers["ld.so"]
		} else {
			return -1
		}
	}
	if a := c.arg(1); (name == "cpulimit" || name == "taskset") && (a == "-p" || a == "--pid" || a == "-pc" || a == "-cp") {
		return -1 // acts on a running process
	}
	values := " " + l.valueOpts + " "
	i, operands := 1, l.operands
	for i < len(c.args) {
		a := c.args[i].s
		switch {
		case a == "--":
			i++
			if operands > 0 {
				i += operands
			}
			return i
		case strings.HasPrefix(a, "-") && len(a) > 1:
			if strings.Contains(values, " "+a+" ") && !strings.Contains(a, "=") {
				i++
			}
			i++
		case operands > 0:
			operands--
			i++
		default:
			return i
		}
	}
	return -1
}

// escapeShell judges an interactive shell started through another
// program: a shell escape, the step after which everything typed runs
// unrecorded. Callers have checked that the shell gets no -c code, no
// script and no piped input.
func (s *scan) escapeShell(c *call) {
	via := s.escape
	if via == "" && !c.xargs {
		for _, w := range strings.Fields(c.wrappers) {
			switch w {
			case "exec", "command", "builtin", "time":
				// the shell's own ways of starting a program
			default:
				via = c.wrappers
			}
		}
	}
	if via == "" {
		return
	}
	s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "starts an interactive shell through "+via+" (shell escape)")
}

// escapeShellVia flags a program that starts a shell itself.
func (s *scan) escapeShellVia(c *call, via string) {
	if c.sudo {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a root shell through "+via)
		return
	}
	s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "starts an interactive shell through "+via+" (shell escape)")
}

// ruleWhois judges whois queries to a chosen server carrying command
// output: a known way to send data over port 43.
func (s *scan) ruleWhois(c *call) {
	args := c.rest()
	var host hostInfo
	for i, a := range args {
		if a.s == "-h" && i+1 < len(args) {
			host = s.d.classifyHost(args[i+1].s)
		}
	}
	if !host.untrusted() {
		return
	}
	s.upload(c, host, nil, args)
	for _, a := range args {
		if a.w != nil && a.w.hasSubst {
			s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "sends command output to "+host.describe()+" as a whois query")
			return
		}
	}
}

// ruleScript judges script(1): without -c it starts an interactive shell.
func (s *scan) ruleScript(c *call) {
	if c.has("-c") || c.has("--command") || c.piped || c.hasStdin {
		return
	}
	for _, a := range c.rest() {
		if strings.HasPrefix(a.s, "--command=") || a.s == "-V" || a.s == "--version" || a.s == "-h" || a.s == "--help" {
			return
		}
	}
	if c.sudo {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a root shell with script")
		return
	}
	s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "starts an interactive shell with script (shell escape)")
}

// servesFile judges a listening socket that hands a file to whoever
// connects (nc -l < file, socat FILE: TCP-LISTEN:).
func (s *scan) servesFile(c *call, file string) {
	if file == "" || file == "/dev/null" || file == "-" {
		return
	}
	if info, ok := classifyRead(file); ok && info.sev >= SeverityMedium {
		s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "serves "+info.what+" ("+file+") to whoever connects")
		return
	}
	// a canned response for a local test is ordinary; system files and
	// data dumps are not
	sev := SeverityLow
	switch strings.ToLower(path.Ext(file)) {
	case ".sql", ".sqlite", ".sqlite3", ".db", ".dump", ".csv", ".bak", ".tar", ".tgz", ".gz", ".zip", ".7z", ".xlsx", ".kdbx":
		sev = SeverityMedium
	}
	if strings.HasPrefix(file, "/") && systemPath(file) {
		sev = SeverityMedium
	}
	s.flag(CategoryExfiltration, sev, c.evidence, "serves the file "+file+" to whoever connects")
}

// stdinFile returns the file c's standard input is redirected from.
func stdinFile(c *call) string {
	for _, rd := range c.redirs {
		if rd.op.String() == "<" && (rd.fd == "" || rd.fd == "0") && !isFD(rd.target) {
			return rd.target
		}
	}
	return ""
}

// ruleCapture judges keyloggers, screen capture and clipboard reads.
func (s *scan) ruleCapture(c *call) {
	if c.has("-h") || c.has("--help") || c.has("--version") || c.has("-V") {
		return
	}
	switch c.name {
	case "xinput":
		if c.arg(1) == "test" || c.arg(1) == "test-xi2" {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "records keystrokes (xinput test)")
		}
	case "logkeys", "lkl", "uberkey", "keysniffer", "evtest":
		if c.name != "evtest" || len(c.rest()) > 0 {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "records keystrokes ("+c.name+")")
		}
	case "xwd":
		if c.has("-root") {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "captures the screen")
		}
	case "import":
		if c.has("-window") && c.has("root") {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "captures the screen")
		}
	case "scrot", "gnome-screenshot", "screencapture", "maim", "grim", "spectacle", "flameshot":
		s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "captures the screen")
	case "xclip", "xsel", "wl-paste", "pbpaste":
		if c.name == "pbpaste" || c.name == "wl-paste" || c.hasShort('o') || c.has("--output") {
			s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, "reads the clipboard")
		}
	}
}

// trustStores are where system-wide trusted CA certificates live.
func trustStore(n string) bool {
	for _, d := range []string{"/usr/local/share/ca-certificates", "/usr/share/ca-certificates", "/etc/pki/ca-trust/source/anchors", "/etc/ca-certificates/trust-source", "/etc/ssl/certs"} {
		if n == d || strings.HasPrefix(n, d+"/") {
			return true
		}
	}
	return false
}

// ruleTrustCert judges adding trusted root certificates, which lets
// whoever holds the key read and alter TLS traffic.
func (s *scan) ruleTrustCert(c *call) {
	switch c.name {
	case "security":
		if c.arg(1) == "add-trusted-cert" {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "adds a trusted root certificate to the keychain")
		}
	case "trust":
		if c.arg(1) == "anchor" && !c.has("--remove") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "adds a trusted root certificate")
		}
	case "certutil":
		for i, a := range c.rest() {
			if a.s == "-t" && i+1 < len(c.rest()) && strings.Contains(c.rest()[i+1].s, "C") && c.has("-A") {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "adds a trusted root certificate to an NSS database")
			}
		}
	}
}

// setupScripts analyses setup.py files written earlier in the command
// that a pip install of their directory runs.
func (s *scan) setupScripts(c *call) {
	for _, a := range nonFlagArgs(c) {
		d := strings.TrimSuffix(a.s, "/")
		for _, f := range []string{d + "/setup.py", d} {
			if content, ok := s.st.files[cleanPathArg(f)]; ok && strings.HasSuffix(f, "setup.py") {
				s.code(c, "python", content, "setup script installed from "+a.s)
			}
		}
	}
}

// lifecycleScripts returns the npm lifecycle scripts of a package.json
// that run on install (preinstall, install, postinstall, prepare).
func lifecycleScripts(content string) []string {
	var pkg struct {
		Scripts map[string]any `json:"scripts"`
	}
	if json.Unmarshal([]byte(content), &pkg) != nil {
		return nil
	}
	var out []string
	for _, k := range []string{"preinstall", "install", "postinstall", "prepare", "prepack", "prepublish"} {
		if v, ok := pkg.Scripts[k].(string); ok && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// packageScripts analyses the install scripts of a package.json written
// earlier in the command that an npm, yarn or pnpm install runs.
func (s *scan) packageScripts(c *call) {
	installs := false
	for _, a := range c.rest() {
		switch a.s {
		case "i", "install", "ci", "add", "pack", "publish", "rebuild":
			installs = true
		}
	}
	if !installs && len(c.rest()) > 0 {
		return
	}
	for p, content := range s.st.files {
		if path.Base(p) != "package.json" {
			continue
		}
		saved := s.escape
		s.escape = c.name + " install script"
		for _, script := range lifecycleScripts(content) {
			s.nested(script, "install script in "+p)
		}
		s.escape = saved
	}
}
