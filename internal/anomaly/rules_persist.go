package anomaly

// This file holds persistence rules beyond cron and start-up files: at
// and batch jobs, systemd timers, trap DEBUG, PATH hijacking, Python
// start-up hooks (.pth, usercustomize), git hooks.

import (
	"strings"
)

// ruleAt judges jobs scheduled with at or batch: the job is shell code
// that runs later, outside the session.
func (s *scan) ruleAt(c *call) {
	if c.name == "at" && (c.hasShort('l') || c.hasShort('c') || c.hasShort('r') || c.hasShort('d')) {
		return // list, show, remove
	}
	if c.piped && !c.pipedKnown {
		s.persistence(c, writeInfo{CategoryPersistence, SeverityMedium, "a job scheduled with " + c.name, writeSchedule}, c.name, "", false)
		return
	}
	text, known := c.pipeIn()
	args := c.rest()
	for i, a := range args {
		if a.s == "-f" && i+1 < len(args) {
			if content, ok := s.st.files[cleanPathArg(args[i+1].s)]; ok {
				text, known = content, true
			} else {
				text, known = args[i+1].s, true
			}
		}
	}
	if !known && !c.piped {
		return // interactive: reads the job from the terminal
	}
	s.persistence(c, writeInfo{CategoryPersistence, SeverityMedium, "a job scheduled with " + c.name, writeSchedule}, c.name, text, known)
}

// ruleSystemdRun judges transient units: with a timer they are scheduled
// jobs; the command they run is analysed either way.
func (s *scan) ruleSystemdRun(c *call) {
	args := c.rest()
	timer := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i].s
		if !strings.HasPrefix(a, "-") {
			break
		}
		if strings.HasPrefix(a, "--on-") || strings.HasPrefix(a, "--timer-property") {
			timer = true
		}
		switch a {
		case "-p", "--property", "-u", "--unit", "--description", "--slice", "-E", "--setenv", "--uid", "--gid", "--nice",
			"--working-directory", "-M", "--machine", "-H", "--host", "--service-type", "--timer-property", "--path-property", "--socket-property":
			i++
		}
		if (strings.HasPrefix(a, "--on-") || a == "--timer-property") && !strings.Contains(a, "=") {
			i++
		}
	}
	if i >= len(args) {
		return
	}
	argv := argStrings(args[i:])
	if timer {
		s.persistence(c, writeInfo{CategoryPersistence, SeverityMedium, "a timer started with systemd-run", writeSchedule}, "systemd-run", shellJoin(argv), true)
		return
	}
	s.analyzeCall(s.synthCall(c, argv))
}

// shellJoin quotes argv for analysis as one shell command.
func shellJoin(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>(){}*?[]#~") {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
			b.WriteByte('\'')
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// ruleTrap judges trap handlers; a DEBUG trap runs before every command
// and sees it, which is how shell keyloggers work.
func (s *scan) ruleTrap(c *call) {
	args := c.rest()
	if len(args) < 2 {
		return
	}
	handler := args[0].s
	debug := false
	for _, a := range args[1:] {
		if strings.EqualFold(a.s, "DEBUG") {
			debug = true
		}
	}
	from := len(s.f.flags)
	s.nested(handler, "trap handler")
	if !debug {
		return
	}
	sev := SeverityMedium
	if strings.Contains(handler, "BASH_COMMAND") || strings.Contains(handler, "history") || strings.Contains(handler, "ZSH_DEBUG_CMD") ||
		strings.Contains(handler, ">>") || s.f.max("", from) >= SeverityMedium {
		sev = SeverityHigh
	}
	s.flag(CategoryPersistence, sev, c.evidence, "runs a handler before every command (trap DEBUG), which records what is typed")
}

// pathHijack reports whether a PATH value puts a temporary or hidden
// directory on the search path.
func pathHijack(v string) (string, bool) {
	for _, d := range strings.Split(v, ":") {
		if d == "" || strings.HasPrefix(d, "$") {
			continue
		}
		n := normalizePath(d)
		if inTempDir(n+"/") || hiddenFile(strings.TrimSuffix(n, "/")) {
			return d, true
		}
	}
	return "", false
}

// pythonStartup classifies files that Python runs at every start.
func pythonStartup(n string) (writeInfo, bool) {
	base := n[strings.LastIndexByte(n, '/')+1:]
	inSite := strings.Contains(n, "site-packages/") || strings.Contains(n, "dist-packages/")
	switch {
	case inSite && strings.HasSuffix(base, ".pth"):
		return writeInfo{CategoryPersistence, SeverityLow, "Python path file (its import lines run at every Python start)", writePythonStartup}, true
	case base == "usercustomize.py" || base == "sitecustomize.py":
		return writeInfo{CategoryPersistence, SeverityMedium, "Python start-up hook " + base, writePythonStartup}, true
	}
	return writeInfo{}, false
}

// pythonStartupWrite judges content written to a Python start-up file.
func (s *scan) pythonStartupWrite(c *call, wi writeInfo, target, content string, known bool) {
	sev := wi.sev
	if known {
		from := len(s.f.flags)
		code := content
		if strings.HasSuffix(target, ".pth") {
			var b strings.Builder
			for _, l := range strings.Split(content, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "import") {
					b.WriteString(l)
					b.WriteByte('\n')
					sev = max(sev, SeverityMedium)
				}
			}
			code = b.String()
		}
		s.code(c, "python", code, "content written to "+target)
		low := strings.ToLower(code)
		if s.f.max("", from) >= SeverityMedium || containsAny(low, codeExec) || containsAny(low, codeNet) || strings.Contains(code, "/.") || strings.Contains(code, "/tmp/") {
			sev = SeverityHigh
		}
	} else {
		sev = max(sev, SeverityMedium)
	}
	s.flag(CategoryPersistence, sev, c.evidence, "writes "+wi.what+" "+target)
}

// gitHook classifies a git hook script (not the shipped samples).
func gitHook(n string) (writeInfo, bool) {
	i := strings.Index(n, ".git/hooks/")
	if i < 0 || strings.HasSuffix(n, ".sample") || len(n) == i+len(".git/hooks/") {
		return writeInfo{}, false
	}
	return writeInfo{CategoryPersistence, SeverityLow, "git hook", writeHook}, true
}
