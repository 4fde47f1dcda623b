package anomaly

import (
	"strings"
)

// writeTo judges writing to file target (appending when app is set).
func (s *scan) writeTo(c *call, target string, app bool) {
	wi, ok := classifyWrite(target)
	if !ok {
		return
	}
	ev := c.evidence
	content, known := s.writeContent(c)
	switch wi.kind {
	case writeDevice:
		s.flag(CategoryDestructive, SeverityCritical, ev, "overwrites the raw disk device "+target)
	case writeAppLog:
		s.flag(wi.cat, SeverityLow, ev, "writes to "+wi.what+" "+target)
	case writeLog, writeHistory:
		if !app {
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "overwrites "+wi.what+" "+target)
		} else {
			s.flag(wi.cat, SeverityLow, ev, "appends to "+wi.what+" "+target)
		}
	case writeSudoers:
		sev := SeverityHigh
		if known && (strings.Contains(content, "NOPASSWD") || strings.Contains(content, "ALL")) {
			sev = SeverityCritical
		}
		s.flag(CategoryPrivilegeEscalation, sev, ev, "changes sudo rules ("+target+")")
	case writeAccounts:
		switch {
		case !app && (emptyOutput(c) || known && strings.TrimSpace(content) == ""):
			s.flag(CategoryDestructive, SeverityHigh, ev, "truncates the system account database "+target)
		case known && strings.Contains(content, ":0:"):
			s.flag(CategoryPrivilegeEscalation, SeverityCritical, ev, "adds an account with user ID 0 (root) to "+target)
		default:
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, ev, "modifies the system account database "+target)
		}
	case writeShellRC, writeCron, writeService, writeAuthorizedKeys, writeHook:
		s.persistence(c, wi, target, content, known)
	case writePythonStartup:
		s.pythonStartupWrite(c, wi, target, content, known)
	case writeTrustStore:
		// installing a company CA is routine; one from a temporary or
		// hidden file, or just downloaded, is how traffic gets intercepted
		sev := wi.sev
		for _, a := range c.rest() {
			if a.s == target || strings.HasPrefix(a.s, "-") {
				continue
			}
			_, downloaded := s.st.downloads[cleanPathArg(a.s)]
			if hiddenOrTemp(normalizePath(a.s)) || downloaded {
				sev = SeverityMedium
			}
		}
		s.flag(wi.cat, sev, ev, "adds to "+wi.what+" "+target)
	case writeSSHD:
		sev := wi.sev
		if known || c.name == "sed" {
			text := content
			if c.name == "sed" {
				text = strings.Join(argStrings(c.rest()), " ")
			}
			sev = SeverityLow
			l := strings.ToLower(text)
			for _, k := range []string{"permitrootlogin yes", "passwordauthentication yes", "permitemptypasswords yes", "authorizedkeysfile",
				"authorizedkeyscommand", "forcecommand", "permituserenvironment yes", "gatewayports yes", "allowtcpforwarding yes"} {
				if strings.Contains(l, k) {
					sev = SeverityHigh
				}
			}
		}
		s.flag(wi.cat, sev, ev, "writes to "+wi.what+" "+target)
	default:
		if !app && emptyOutput(c) && wi.cat == CategorySensitivePath {
			s.flag(CategoryDestructive, SeverityHigh, ev, "truncates "+wi.what+" "+target)
			return
		}
		s.flag(wi.cat, wi.sev, ev, "writes to "+wi.what+" "+target)
	}
}

// writeContent returns what c writes, when it is known.
func (s *scan) writeContent(c *call) (string, bool) {
	if c == nil {
		return "", false
	}
	if c.written != nil {
		return *c.written, true
	}
	switch {
	case c.name == "echo" || c.name == "printf":
		o, _, ok := echoOutput(c)
		return o, ok
	case c.hasStdin && (c.name == "cat" || c.name == "tee" || len(c.args) == 0):
		return c.stdin, true
	case c.name == "tee" || c.name == "crontab":
		return c.pipeIn()
	}
	return "", false
}

// pipeIn returns the known content piped into c.
func (c *call) pipeIn() (string, bool) {
	if c.hasStdin {
		return c.stdin, true
	}
	return c.pipedText, c.pipedKnown
}

// persistence judges writing start-up files, cron tables, services and
// authorized keys. The content is analysed as shell code: a payload in it
// makes the write severe.
func (s *scan) persistence(c *call, wi writeInfo, target, content string, known bool) {
	sev := wi.sev
	why := "adds to " + wi.what + " " + target
	if known {
		code := content
		if wi.kind == writeCron {
			code = cronCommands(content, strings.HasPrefix(normalizePath(target), "/etc/"))
		}
		if wi.kind == writeService {
			code = serviceCommands(content)
		}
		from := len(s.f.flags)
		if wi.kind != writeAuthorizedKeys {
			s.nested(code, "content written to "+target)
		}
		if s.f.max("", from) >= SeverityMedium {
			sev = SeverityHigh
			why = "installs a malicious payload in " + wi.what + " " + target
		}
		low := strings.ToLower(content)
		for _, a := range []string{"alias sudo", "alias su=", "alias ssh", "alias passwd", "alias doas"} {
			if strings.Contains(low, a) {
				sev = SeverityHigh
				why = "hijacks a credential prompt with an alias in " + target
			}
		}
		if strings.Contains(content, "LD_PRELOAD") || strings.Contains(content, "LD_AUDIT") {
			sev = SeverityHigh
			why = "preloads a library into every program started from " + target
		}
		if wi.kind == writeShellRC {
			if p, ok := runsDroppedFile(content); ok {
				sev = SeverityHigh
				why = "runs " + p + " from " + target + " at every shell start"
			}
			for _, line := range strings.Split(content, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimPrefix(strings.TrimSpace(line), "export "), "PATH="); ok {
					if d, bad := pathHijack(strings.Trim(v, `"'`)); bad {
						sev = SeverityHigh
						why = "puts " + d + " on the search path in " + target
					}
				}
			}
		}
		if (wi.kind == writeCron || wi.kind == writeService || wi.kind == writeSchedule || wi.kind == writeHook) && (strings.Contains(content, "/tmp/") || strings.Contains(content, "/dev/shm/") ||
			strings.Contains(content, "/.") || strings.Contains(low, "curl ") || strings.Contains(low, "wget ")) {
			sev = SeverityHigh
		}
	} else if wi.kind == writeCron || wi.kind == writeService || wi.kind == writeSchedule {
		if sev < SeverityMedium {
			sev = SeverityMedium
		}
	}
	s.flag(CategoryPersistence, sev, c.evidence, why)
}

// runsDroppedFile reports a line of shell start-up code that runs a file
// from a temporary directory or a hidden file, directly or through an
// interpreter.
func runsDroppedFile(content string) (string, bool) {
	for _, line := range strings.Split(content, "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		for len(f) > 0 {
			switch w := cmdName(f[0]); {
			case w == "nohup" || w == "exec" || w == "setsid" || w == "command" || isShell(w) || isInterpreter(w):
				f = f[1:]
				for len(f) > 0 && strings.HasPrefix(f[0], "-") {
					f = f[1:]
				}
				continue
			}
			break
		}
		if len(f) == 0 {
			continue
		}
		p := strings.Trim(f[0], `"'`)
		n := normalizePath(p)
		if strings.ContainsAny(p, "/~") && (inTempDir(n) || hiddenFile(n)) {
			return p, true
		}
	}
	return "", false
}

// cronCommands strips schedules (and, for system tables, the user field)
// from crontab lines.
func cronCommands(content string, system bool) string {
	var b strings.Builder
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		skip := 5
		if strings.HasPrefix(f[0], "@") {
			skip = 1
		}
		if len(f) > skip && strings.Contains(f[skip-1], "=") && skip == 5 {
			continue // VAR=value line
		}
		if system {
			skip++
		}
		if len(f) > skip {
			b.WriteString(strings.Join(f[skip:], " "))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// serviceCommands extracts Exec lines from a systemd unit.
func serviceCommands(content string) string {
	var b strings.Builder
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Exec") {
			if i := strings.IndexByte(line, '='); i > 0 {
				b.WriteString(strings.TrimLeft(line[i+1:], "-@:+!"))
				b.WriteByte('\n')
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return b.String()
}
