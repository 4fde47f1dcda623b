package anomaly

// This file holds the rules for commands that run other code: shells,
// eval, source, interpreters, and searches through files.

import (
	"strings"
)

func (s *scan) ruleShell(c *call) {
	if c.xargs {
		s.loop++ // once per input item
		defer func() { s.loop-- }()
	}
	args := c.rest()
	for i, a := range args {
		if a.s == "--" {
			break
		}
		if a.s == "-c" || len(a.s) > 2 && a.s[0] == '-' && a.s[1] != '-' && strings.HasSuffix(a.s, "c") && !strings.Contains(a.s, "o") {
			if i+1 >= len(args) {
				return
			}
			code := args[i+1]
			if w := code.w; w != nil {
				if w.substDown {
					s.flag(CategoryDownloadExec, w.substHost.downloadExecSeverity(), c.evidence, "runs a script downloaded from "+w.substHost.describe())
				}
				if w.substDecode {
					s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "runs decoded data as a script")
				}
				if w.substNet && !w.substDown {
					s.flag(CategoryDownloadExec, SeverityHigh, c.evidence, "runs text received from the network as a script")
				}
				if w.hasSubst && !w.substStatic {
					return
				}
			}
			s.nested(code.s, c.name+" -c")
			return
		}
		if strings.HasPrefix(a.s, "-") || strings.HasPrefix(a.s, "+") {
			if a.s == "-o" || a.s == "+o" || a.s == "-O" || a.s == "+O" {
				// option name follows; skip it
				continue
			}
			continue
		}
		// the script file
		s.scriptFile(c, a)
		return
	}
	if c.hasStdin && !c.piped {
		s.nested(c.stdin, c.name+" here-document")
		return
	}
	if c.sudo && !c.piped {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a root shell")
		return
	}
	if !c.piped && !c.hasStdin {
		s.escapeShell(c)
	}
}

// scriptFile judges a script a shell or interpreter runs.
func (s *scan) scriptFile(c *call, a arg) {
	s.f.noteRan(s.absPath(a.s))
	if a.w != nil {
		for _, p := range a.w.procSubst {
			if p.download {
				s.flag(CategoryDownloadExec, p.host.downloadExecSeverity(), c.evidence, "runs a script downloaded from "+p.host.describe()+" through process substitution")
			}
		}
	}
	if h, ok := s.st.downloads[cleanPathArg(a.s)]; ok {
		s.flag(CategoryDownloadExec, h.downloadExecSeverity(), c.evidence, "runs a script just downloaded from "+h.describe())
	}
	if content, ok := s.st.files[cleanPathArg(a.s)]; ok {
		if isShell(c.name) {
			s.nested(content, "script written to "+a.s)
		} else {
			s.code(c, c.name, content, "script written to "+a.s)
		}
	}
	if t := attackToolIn(a.s); t != "" {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "runs the attack tool "+t)
	}
}

func (s *scan) ruleEval(c *call) {
	args := c.rest()
	dynamic := false
	for _, a := range args {
		w := a.w
		if w == nil {
			continue
		}
		if w.substDown {
			s.flag(CategoryDownloadExec, w.substHost.downloadExecSeverity(), c.evidence, "evaluates a script downloaded from "+w.substHost.describe())
		}
		if w.substDecode {
			s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "evaluates decoded data")
		}
		if w.substNet && !w.substDown {
			s.flag(CategoryDownloadExec, SeverityHigh, c.evidence, "evaluates text received from the network")
		}
		if w.dynamic && !w.substStatic {
			dynamic = true
		}
	}
	if dynamic {
		s.flag(CategoryObfuscation, SeverityLow, c.evidence, "evaluates text produced at run time")
		return
	}
	s.nested(strings.Join(argStrings(args), " "), "eval")
}

func (s *scan) ruleSource(c *call) {
	if a := c.rest(); len(a) > 0 {
		s.scriptFile(c, a[0])
		if c.hasStdin && (a[0].s == "/dev/stdin" || a[0].s == "-") {
			s.nested(c.stdin, "sourced here-document")
		}
	}
}

// inlineCode returns the code an interpreter runs from its command line.
func inlineCode(c *call) (arg, bool) {
	args := c.rest()
	for i, a := range args {
		switch c.name {
		case "python", "python2", "python3", "pypy", "pypy3":
			if a.s == "-c" && i+1 < len(args) {
				return args[i+1], true
			}
			if strings.HasPrefix(a.s, "-c") && len(a.s) > 2 {
				return arg{s: a.s[2:], w: a.w}, true
			}
		case "perl", "ruby", "lua", "luajit", "Rscript", "osascript", "jrunscript", "jjs", "groovy", "scala", "expect":
			if (a.s == "-e" || a.s == "-E" || len(a.s) > 2 && a.s[0] == '-' && a.s[1] != '-' && strings.HasSuffix(a.s, "e") || strings.HasSuffix(a.s, "E") && a.s[0] == '-') && i+1 < len(args) {
				return args[i+1], true
			}
		case "julia":
			if (a.s == "-e" || a.s == "-E" || a.s == "--eval") && i+1 < len(args) {
				return args[i+1], true
			}
		case "node", "nodejs", "bun":
			if (a.s == "-e" || a.s == "--eval" || a.s == "-p" || a.s == "--print") && i+1 < len(args) {
				return args[i+1], true
			}
		case "deno":
			if a.s == "eval" && i+1 < len(args) {
				return args[i+1], true
			}
		case "php":
			if a.s == "-r" && i+1 < len(args) {
				return args[i+1], true
			}
		}
	}
	return arg{}, false
}

func (s *scan) ruleInterpreter(c *call) {
	if c.name == "osascript" {
		s.ruleOsascript(c)
	}
	if code, ok := inlineCode(c); ok {
		if w := code.w; w != nil && w.substDown {
			s.flag(CategoryDownloadExec, w.substHost.downloadExecSeverity(), c.evidence, "runs code downloaded from "+w.substHost.describe())
		}
		text := code.s
		if c.name == "ruby" && (c.has("-rsocket") || c.has("-rsocket.rb")) {
			text = "require 'socket';" + text
		}
		s.code(c, c.name, text, c.name+" code")
		s.ruleInPlace(c)
		return
	}
	args := c.rest()
	for _, a := range args {
		if a.s == "-m" {
			return
		}
		if strings.HasPrefix(a.s, "-") && a.s != "-" {
			continue
		}
		if a.s == "-" {
			break
		}
		s.scriptFile(c, a)
		return
	}
	if c.hasStdin && !c.piped {
		s.code(c, c.name, c.stdin, c.name+" here-document")
	}
}

// ruleCompile analyses source files written earlier in the command that
// a compiler or a "go run" builds: a program built on the spot from
// source the agent just wrote runs whatever that source does.
func (s *scan) ruleCompile(c *call) {
	for _, a := range c.rest() {
		if content, ok := s.st.files[cleanPathArg(a.s)]; ok {
			s.code(c, c.name, content, "source written to "+a.s)
		}
	}
}

func (s *scan) ruleAwk(c *call) {
	for _, a := range c.rest() {
		if strings.HasPrefix(a.s, "-") {
			continue
		}
		s.code(c, "awk", a.s, "awk program")
		return
	}
}

// ruleGrep judges recursive searches for secrets outside the project.
func (s *scan) ruleGrep(c *call) {
	recursive := c.name == "rg" || c.name == "ag" || c.name == "ack" || c.hasShort('r') || c.hasShort('R') || c.has("--recursive")
	if !recursive {
		return
	}
	args := c.rest()
	pattern := ""
	var roots []string
	for i := 0; i < len(args); i++ {
		a := args[i].s
		switch {
		case a == "-e" || a == "--regexp":
			if i+1 < len(args) {
				pattern = args[i+1].s
				i++
			}
		case a == "--include" || a == "--exclude" || a == "-g" || a == "--glob" || a == "-t" || a == "--type" || a == "-m" || a == "-A" || a == "-B" || a == "-C":
			i++
		case strings.HasPrefix(a, "-"):
		case pattern == "":
			pattern = a
		default:
			roots = append(roots, a)
		}
	}
	for _, r := range roots {
		if sev, why := secretSearch(pattern, r); sev > SeverityLow {
			s.flag(CategoryCredentialAccess, sev, c.evidence, why)
		}
	}
}
