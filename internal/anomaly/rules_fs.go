package anomaly

import (
	"path"
	"strings"
)

// nonFlagArgs returns the arguments that are not options (everything
// after "--" counts as non-option).
func nonFlagArgs(c *call) []arg {
	var out []arg
	dash := false
	for _, a := range c.rest() {
		if !dash && a.s == "--" {
			dash = true
			continue
		}
		if !dash && strings.HasPrefix(a.s, "-") && a.s != "-" {
			continue
		}
		out = append(out, a)
	}
	return out
}

// removalTarget grades removing p recursively: what it hits and how bad
// that is.
func removalTarget(p string, recursive bool) (Severity, string) {
	if p == "" {
		return SeverityNone, ""
	}
	n := normalizePath(p)
	trimmed := strings.TrimSuffix(strings.TrimSuffix(n, "/*"), "/.")
	switch {
	case trimmed == "/" || n == "/*" || trimmed == "":
		return SeverityCritical, "the root file system"
	case trimmed == "~" || n == "~/*":
		return SeverityCritical, "the home directory"
	case systemTopDirs[trimmed]:
		if recursive {
			return SeverityCritical, "the system directory " + trimmed
		}
		return SeverityMedium, "the system directory " + trimmed
	}
	if strings.HasPrefix(trimmed, "~/") {
		rel := trimmed[2:]
		switch {
		case rel == ".ssh" || strings.HasPrefix(rel, ".ssh/") || rel == ".gnupg" || rel == ".aws" || rel == ".kube" || rel == ".config":
			return SeverityHigh, "credentials or configuration in the home directory (" + trimmed + ")"
		case rel == ".bash_history" || rel == ".zsh_history":
			return SeverityNone, "" // handled as evasion
		case !strings.Contains(rel, "/") && !strings.HasPrefix(rel, ".cache") && recursive && !strings.HasPrefix(rel, ".") && (rel == "*" || rel == "Documents" || rel == "projects" || rel == "src" || rel == "code" || rel == "work" || rel == "Desktop"):
			return SeverityHigh, "a top-level home folder (" + trimmed + ")"
		}
		return SeverityNone, ""
	}
	if strings.HasPrefix(trimmed, "/") {
		elems := strings.Split(trimmed[1:], "/")
		top := "/" + elems[0]
		if !systemTopDirs[top] {
			return SeverityNone, ""
		}
		switch {
		case strings.HasPrefix(trimmed, "/var/log"):
			return SeverityNone, "" // handled as evasion
		case strings.HasPrefix(trimmed, "/usr/local/") || strings.HasPrefix(trimmed, "/opt/") || strings.HasPrefix(trimmed, "/var/cache/") ||
			strings.HasPrefix(trimmed, "/var/lib/apt/") || strings.HasPrefix(trimmed, "/var/tmp/") || strings.HasPrefix(trimmed, "/mnt/") ||
			strings.HasPrefix(trimmed, "/media/") || strings.HasPrefix(trimmed, "/srv/") || strings.HasPrefix(trimmed, "/usr/share/doc"):
			return SeverityNone, ""
		case len(elems) == 2 && (top == "/usr" || top == "/var" || top == "/etc" || top == "/boot" || top == "/lib"):
			if recursive {
				return SeverityCritical, "the system directory " + trimmed
			}
			return SeverityMedium, "the system file " + trimmed
		}
		for _, d := range []string{"/var/lib/postgresql", "/var/lib/mysql", "/var/lib/docker", "/var/lib/redis", "/var/lib/mongodb", "/var/lib/etcd", "/var/www", "/var/lib/jenkins"} {
			if trimmed == d || strings.HasPrefix(trimmed, d+"/") {
				return SeverityHigh, "application data in " + trimmed
			}
		}
		if recursive {
			return SeverityMedium, "system files in " + trimmed
		}
		return SeverityLow, "the system file " + trimmed
	}
	// relative paths
	switch trimmed {
	case ".", "*", "./*", "..", "../*":
		if recursive {
			if trimmed == ".." || trimmed == "../*" {
				return SeverityHigh, "the parent of the working directory"
			}
			return SeverityMedium, "everything in the working directory"
		}
	case ".git":
		if recursive {
			return SeverityMedium, "the repository history (.git)"
		}
	}
	if strings.HasPrefix(trimmed, "../../") {
		return SeverityMedium, "files far outside the working directory (" + trimmed + ")"
	}
	return SeverityNone, ""
}

func (s *scan) ruleRm(c *call) {
	recursive := c.hasShort('r') || c.hasShort('R') || c.has("--recursive") || c.name == "rmdir"
	noPreserve := c.has("--no-preserve-root")
	targets := nonFlagArgs(c)
	var items []string
	for _, a := range targets {
		items = append(items, a.s)
	}
	if c.xargs {
		items = append(items, c.stdinItems...)
		if c.hasStdin {
			items = append(items, strings.Fields(c.stdin)...)
		}
	}
	worst, what := SeverityNone, ""
	for i, p := range items {
		sev, w := removalTarget(s.absPath(p), recursive)
		if sev > worst {
			worst, what = sev, w
		}
		n := normalizePath(p)
		if n == "~/.bash_history" || n == "~/.zsh_history" || strings.HasPrefix(n, "/var/log") && !appLog(n) {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "deletes logs or shell history ("+p+")")
		}
		if i < len(targets) && recursive {
			if w := targets[i].w; w != nil && w.dynamic && !w.guarded && w.params > 0 && strings.HasPrefix(p, "$") {
				rest := strings.TrimLeft(p[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_{}")
				if rest == "" || rest == "/" || rest == "/*" {
					s.flag(CategoryDestructive, SeverityMedium, c.evidence, "recursive delete of a path taken from an unset-able variable; an empty value deletes from /")
				}
			}
		}
	}
	if noPreserve && worst < SeverityCritical {
		worst, what = SeverityCritical, "the root file system (--no-preserve-root)"
	}
	if worst > SeverityNone {
		verb := "deletes "
		if recursive {
			verb = "recursively deletes "
		}
		s.flag(CategoryDestructive, worst, c.evidence, verb+what)
	}
}

func (s *scan) ruleShred(c *call) {
	for _, a := range nonFlagArgs(c) {
		n := normalizePath(a.s)
		switch {
		case strings.HasPrefix(n, "/dev/") && isBlockDevice(n):
			s.flag(CategoryDestructive, SeverityCritical, c.evidence, "overwrites the disk device "+a.s)
		case strings.HasPrefix(n, "/var/log") || n == "~/.bash_history" || n == "~/.zsh_history":
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "destroys logs or shell history ("+a.s+")")
		default:
			if sev, what := removalTarget(a.s, true); sev > SeverityNone {
				s.flag(CategoryDestructive, sev, c.evidence, "shreds "+what)
			} else if systemPath(a.s) {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "destroys "+a.s+" beyond recovery (removes traces)")
			}
		}
	}
}

// findRoots returns the starting points of a find command.
func findRoots(c *call) []string {
	var roots []string
	for _, a := range c.rest() {
		if strings.HasPrefix(a.s, "-") || a.s == "!" || a.s == "(" {
			break
		}
		roots = append(roots, a.s)
	}
	if len(roots) == 0 {
		roots = []string{"."}
	}
	return roots
}

// huntsSecrets reports whether a find/glob name pattern looks for
// credential files, and how severe that search is.
func huntsSecrets(pattern string) (Severity, bool) {
	p := strings.ToLower(strings.Trim(pattern, `"'*/`))
	switch {
	case strings.Contains(p, "id_rsa") || strings.Contains(p, "id_ed25519") || strings.Contains(p, "id_dsa") || strings.Contains(p, "id_ecdsa"):
		return SeverityHigh, true
	case strings.Contains(p, ".pem") || strings.HasSuffix(p, ".key") || strings.Contains(p, ".ppk") || strings.Contains(p, ".p12") || strings.Contains(p, ".pfx") || strings.Contains(p, ".kdbx"):
		return SeverityHigh, true
	case strings.Contains(p, "credential") || strings.Contains(p, "secret") || strings.Contains(p, "password") || strings.Contains(p, "passwd") ||
		strings.Contains(p, ".netrc") || strings.Contains(p, ".pgpass") || strings.Contains(p, "wallet") || strings.Contains(p, "shadow") ||
		strings.Contains(p, ".aws") || strings.Contains(p, ".ssh") || strings.Contains(p, "token") || strings.Contains(p, "environ"):
		return SeverityHigh, true
	case p == ".env" || strings.HasPrefix(p, ".env") && !strings.Contains(p, "example") && !strings.Contains(p, "sample") || strings.HasSuffix(p, ".env"):
		return SeverityMedium, true
	}
	return SeverityNone, false
}

// broadRoot reports whether a search starts outside the project: the
// file system root, home directories, system directories.
func broadRoot(p string) bool {
	n := normalizePath(p)
	if n == "/" || n == "~" || strings.HasPrefix(n, "~/.") {
		return true
	}
	if strings.HasPrefix(n, "/") {
		top := n
		if i := strings.IndexByte(n[1:], '/'); i >= 0 {
			top = n[:i+1]
		}
		return systemTopDirs[top] && !strings.HasPrefix(n, "/usr/local/") && !strings.HasPrefix(n, "/opt/") && !strings.HasPrefix(n, "/srv/")
	}
	return false
}

func (s *scan) ruleFind(c *call) {
	roots := findRoots(c)
	args := c.rest()
	deletes, nameFilter := false, false
	var execStart = -1
	for i, a := range args {
		switch a.s {
		case "-delete":
			deletes = true
		case "-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-wholename", "-newer", "-mtime", "-mmin", "-size", "-user", "-empty":
			if i+1 < len(args) {
				v := args[i+1].s
				if a.s == "-name" || a.s == "-iname" || a.s == "-path" || a.s == "-ipath" || a.s == "-wholename" {
					if v != "*" && v != "*.*" {
						nameFilter = true
					}
					if sev, ok := huntsSecrets(v); ok {
						if anyBroad(roots) {
							s.flag(CategoryCredentialAccess, sev, c.evidence, "searches the file system for credential files ("+v+")")
						} else {
							s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, "searches for credential files ("+v+")")
						}
					}
				} else if a.s != "-empty" {
					nameFilter = true
				}
			}
		case "-perm":
			if i+1 < len(args) {
				v := args[i+1].s
				if strings.Contains(v, "4000") || strings.Contains(v, "u=s") || strings.Contains(v, "6000") || strings.Contains(v, "2000") || strings.Contains(v, "g=s") {
					s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "enumerates setuid/setgid programs (privilege escalation reconnaissance)")
				}
			}
		case "-exec", "-execdir", "-ok", "-okdir":
			if execStart < 0 {
				execStart = i + 1
			}
		}
	}
	// every -exec runs once per file found: a loop
	s.loop++
	savedEscape := s.escape
	s.escape = "find -exec"
	for execStart > 0 && execStart < len(args) {
		end := execStart
		for end < len(args) && args[end].s != ";" && args[end].s != "+" && args[end].s != `\;` {
			end++
		}
		argv := argStrings(args[execStart:end])
		inner := s.synthCall(c, argv)
		if inner.name == "rm" || inner.name == "shred" || inner.name == "unlink" {
			deletes = true
			s.noteIteration(inner)
		} else {
			for i, a := range argv {
				if a == "{}" {
					argv[i] = roots[0]
				}
			}
			s.analyzeCall(s.synthCall(c, argv))
		}
		execStart = -1
		for i := end + 1; i < len(args); i++ {
			if a := args[i].s; a == "-exec" || a == "-execdir" || a == "-ok" || a == "-okdir" {
				execStart = i + 1
				break
			}
		}
	}
	s.loop--
	s.escape = savedEscape
	if !deletes {
		return
	}
	for _, r := range roots {
		if n := normalizePath(r); n == "/var/log" || strings.HasPrefix(n, "/var/log/") || n == "/var/audit" {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "deletes log files under "+r)
		}
	}
	for _, r := range roots {
		sev, what := removalTarget(r, true)
		if sev == SeverityNone {
			continue
		}
		if nameFilter && sev > SeverityMedium {
			sev = SeverityHigh
		} else if nameFilter {
			continue
		}
		s.flag(CategoryDestructive, sev, c.evidence, "deletes files found under "+what)
	}
}

func anyBroad(roots []string) bool {
	for _, r := range roots {
		if broadRoot(r) {
			return true
		}
	}
	return false
}

func (s *scan) ruleDD(c *call) {
	for _, a := range c.rest() {
		if v, ok := strings.CutPrefix(a.s, "of="); ok {
			n := normalizePath(v)
			if strings.HasPrefix(n, "/dev/") && isBlockDevice(n) {
				s.flag(CategoryDestructive, SeverityCritical, c.evidence, "overwrites the disk device "+v)
			} else {
				s.writeTo(c, v, false)
			}
		}
		if v, ok := strings.CutPrefix(a.s, "if="); ok {
			n := normalizePath(v)
			if strings.HasPrefix(n, "/dev/") && isBlockDevice(n) {
				s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "reads a raw disk device "+v)
			}
		}
	}
}

func (s *scan) ruleDisk(c *call) {
	for _, a := range nonFlagArgs(c) {
		n := normalizePath(a.s)
		if strings.HasPrefix(n, "/dev/") && isBlockDevice(n) {
			s.flag(CategoryDestructive, SeverityCritical, c.evidence, c.name+" destroys the data on "+a.s)
			return
		}
	}
	if c.name == "wipefs" || c.name == "blkdiscard" {
		s.flag(CategoryDestructive, SeverityMedium, c.evidence, c.name+" erases file system signatures")
	}
}

// setuidMode reports whether a chmod mode sets the setuid or setgid bit.
func setuidMode(m string) bool {
	if strings.Contains(m, "+s") || strings.Contains(m, "u+s") || strings.Contains(m, "g+s") || strings.Contains(m, "=s") {
		return true
	}
	if len(m) == 4 && (m[0] == '4' || m[0] == '2' || m[0] == '6' || m[0] == '7') && strings.Trim(m, "01234567") == "" {
		return true
	}
	return false
}

func (s *scan) ruleChmod(c *call) {
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	mode := args[0].s
	recursive := c.hasShort('R') || c.has("--recursive")
	for _, t := range args[1:] {
		n := normalizePath(t.s)
		if setuidMode(mode) {
			sev := SeverityHigh
			b := path.Base(n)
			if isShell(b) || isInterpreter(cmdName(b)) || b == "find" || b == "vim" || b == "cp" || b == "env" || hiddenOrTemp(n) {
				sev = SeverityCritical
			}
			s.flag(CategoryPrivilegeEscalation, sev, c.evidence, "sets the setuid/setgid bit on "+t.s)
			continue
		}
		if sev, what := removalTarget(t.s, true); recursive && sev >= SeverityCritical {
			s.flag(CategoryDestructive, SeverityCritical, c.evidence, "recursively changes permissions of "+what)
			continue
		}
		if info, ok := classifyRead(t.s); ok && info.sev >= SeverityMedium && strings.HasPrefix(n, "/") && (strings.ContainsAny(mode, "67") && len(mode) == 3 && mode[2] >= '4' || strings.Contains(mode, "o+") || strings.Contains(mode, "a+")) {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "makes "+info.what+" readable or writable by everyone")
			continue
		}
		if w, ok := classifyWrite(t.s); ok && (w.kind == writeSudoers || w.kind == writeAccounts) && (strings.Contains(mode, "6") || strings.Contains(mode, "7") || strings.Contains(mode, "+w")) {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "makes "+w.what+" writable")
		}
	}
}

func (s *scan) ruleChown(c *call) {
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	recursive := c.hasShort('R') || c.has("--recursive")
	for _, t := range args[1:] {
		if sev, what := removalTarget(t.s, true); recursive && sev >= SeverityCritical {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "recursively changes the owner of "+what)
			continue
		}
		if w, ok := classifyWrite(t.s); ok && (w.kind == writeSudoers || w.kind == writeAccounts) {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "changes the owner of "+w.what)
		}
	}
}

func (s *scan) ruleMv(c *call) {
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	dst := args[len(args)-1].s
	for _, a := range args[:len(args)-1] {
		if sev, what := removalTarget(a.s, true); sev >= SeverityHigh {
			s.flag(CategoryDestructive, sev-1, c.evidence, "moves away "+what)
		}
		if dst == "/dev/null" {
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "moves "+a.s+" to /dev/null")
		}
	}
}

func (s *scan) ruleTruncate(c *call) {
	zero := false
	for i, a := range c.rest() {
		if a.s == "-s0" || a.s == "--size=0" || a.s == "-s" && i+1 < len(c.rest()) && c.rest()[i+1].s == "0" {
			zero = true
		}
	}
	if !zero {
		return
	}
	for _, a := range nonFlagArgs(c) {
		if a.s == "0" {
			continue
		}
		w, ok := classifyWrite(a.s)
		switch {
		case ok && (w.kind == writeLog || w.kind == writeHistory):
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "empties "+w.what+" "+a.s)
		case ok && w.kind == writeAppLog:
			s.flag(CategoryDefenseEvasion, SeverityLow, c.evidence, "empties "+w.what+" "+a.s)
		case ok && strings.HasPrefix(normalizePath(a.s), "/"):
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "empties "+w.what+" "+a.s)
		}
	}
}

func (s *scan) ruleLn(c *call) {
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	src, dst := args[0].s, args[len(args)-1].s
	n := normalizePath(dst)
	if src == "/dev/null" && (n == "~/.bash_history" || n == "~/.zsh_history" || strings.HasPrefix(n, "/var/log")) {
		s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "links history or logs to /dev/null")
		return
	}
	if w, ok := classifyWrite(dst); ok && w.kind != writeOther {
		s.flag(w.cat, max(w.sev, SeverityMedium), c.evidence, "replaces "+w.what+" with a link")
		return
	}
	// a link to a secret from somewhere readable exposes it
	if info, ok := classifyRead(src); ok && info.sev >= SeverityMedium && strings.HasPrefix(normalizePath(src), "/") {
		nd := normalizePath(dst)
		sev := SeverityMedium
		if inTempDir(nd) || strings.HasPrefix(nd, "/var/www") || strings.HasPrefix(nd, "/srv/") || strings.Contains(nd, "public") || strings.Contains(nd, "htdocs") {
			sev = SeverityHigh
		}
		s.flag(CategoryCredentialAccess, sev, c.evidence, "links "+info.what+" ("+src+") to "+dst)
	}
}

func (s *scan) ruleTee(c *call) {
	app := c.hasShort('a') || c.has("--append")
	for _, a := range nonFlagArgs(c) {
		s.writeTo(c, a.s, app)
	}
}
