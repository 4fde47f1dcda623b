package anomaly

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// scanState is shared by a shell script and the scripts nested in it
// (bash -c, eval, decoded payloads), as they run in one session.
type scanState struct {
	vars      map[string]string   // variables with statically known values
	downloads map[string]hostInfo // files written by curl/wget, by normalized path
	remotes   map[string]hostInfo // git remotes added in this command
	computed  map[string]bool     // variables set from a command substitution
	cwd       string              // directory set by a static cd, normalized
	files     map[string]string   // content written to files by echo/printf/here-documents
	nested    int                 // nested analyses so far (bounded)

	loopEncrypt, loopRemove, ransom bool // encryption and removal seen inside loops

	busy     int                 // background CPU burners started
	decoded  map[string]bool     // files written from decoded data
	sudoSeen bool                // a call ran as root earlier in this command
	taint    map[string]taint    // variables set from network output
	arrays   map[string][]string // arrays with statically known elements
}

// observed records what the commands of one scope did, for the rules
// that look at a whole pipeline or command substitution.
type observed struct {
	download     bool // something fetched remote content to stdout
	downloadHost hostInfo
	decode       bool // something decoded data to stdout
	network      bool // a network client ran
}

// taint records that a variable holds data received from the network.
type taint struct {
	download bool
	host     hostInfo
}

// scan analyses one shell source text.
type scan struct {
	d      *Detector
	f      *findings
	st     *scanState
	src    string
	depth  int
	origin string // how this text was reached ("bash -c", "decoded base64"); "" at top level
	loop   int    // nesting of for/while loops
	obs    observed

	// root is set while the rules of a call that runs as root (sudo,
	// doas) analyse the code it runs: that code runs as root too.
	root bool
	// escape names the program through which the code being analysed is
	// run when that is not a shell (find -exec, an editor, interpreter
	// code, a program option): a bare shell there is a shell escape.
	escape string

	inSubst   int      // nesting of command substitutions
	substRead Severity // worst sensitive read inside the current substitution
}

const maxNested = 64

// analyzeShell analyses src as a bash script.
func (d *Detector) analyzeShell(f *findings, src string) {
	st := &scanState{}
	s := &scan{d: d, f: f, st: st}
	s.run(src)
}

// nested analyses text that this script runs as shell code.
func (s *scan) nested(src, origin string) {
	if strings.TrimSpace(src) == "" {
		return
	}
	if s.depth+1 > s.d.maxDepth || s.st.nested >= maxNested {
		s.flag(CategoryObfuscation, SeverityMedium, src, "shell code nested too deeply to analyse ("+origin+")")
		return
	}
	s.st.nested++
	n := &scan{d: s.d, f: s.f, st: s.st, depth: s.depth + 1, origin: origin, loop: s.loop, root: s.root, escape: s.escape}
	n.run(src)
	if n.obs.download {
		s.obs.download, s.obs.downloadHost = true, n.obs.downloadHost
	}
	s.obs.network = s.obs.network || n.obs.network
}

func (s *scan) run(src string) {
	if len(src) > s.d.maxBytes {
		s.flag(CategoryObfuscation, SeverityMedium, src[:64], "command longer than the analysis limit; only the start was analysed")
		src = src[:s.d.maxBytes]
	}
	s.src = src
	p := s.d.getParser()
	file, err := p.Parse(strings.NewReader(src), "")
	s.d.putParser(p)
	if err != nil {
		s.flag(CategoryObfuscation, SeverityLow, src, "does not parse as a shell command")
		s.fallback(src)
		return
	}
	s.stmtList(file.Stmts)
}

// fallback analyses an unparsable script line by line, and looks for a
// few unmistakable fragments in the raw text.
func (s *scan) fallback(src string) {
	lines := strings.Split(src, "\n")
	if len(lines) > 1 && len(lines) <= 200 {
		for _, line := range lines {
			if strings.TrimSpace(line) == "" {
				continue
			}
			p := s.d.getParser()
			file, err := p.Parse(strings.NewReader(line), "")
			s.d.putParser(p)
			if err != nil {
				continue
			}
			saved := s.src
			s.src = line
			s.stmtList(file.Stmts)
			s.src = saved
		}
	}
	// Windows command lines often are not valid shell (cmd and
	// PowerShell syntax): judge them on their words and raw text
	if f := strings.Fields(src); len(f) > 0 && len(f) < 256 {
		c := &call{evidence: src}
		for _, x := range f {
			c.args = append(c.args, arg{s: x})
		}
		c.name = cmdName(f[0])
		if wn := winName(c); wn == "powershell" || wn == "pwsh" || windowsTools[wn] {
			s.commandRules(c)
		}
	}
	low := strings.ToLower(src)
	if strings.Contains(low, "/dev/tcp/") || strings.Contains(low, "/dev/udp/") {
		s.flag(CategoryReverseShell, SeverityHigh, src, "opens a raw network socket through /dev/tcp")
	}
	if (strings.Contains(low, "base64 -d") || strings.Contains(low, "base64 --decode")) &&
		(strings.Contains(low, "| sh") || strings.Contains(low, "|sh") || strings.Contains(low, "| bash") || strings.Contains(low, "|bash")) {
		s.flag(CategoryObfuscation, SeverityHigh, src, "pipes decoded data into a shell")
	}
}

// flag records a finding, noting how nested code was reached.
func (s *scan) flag(cat Category, sev Severity, evidence, explanation string) {
	if s.origin != "" {
		explanation += " (in " + s.origin + ")"
	}
	s.f.add(cat, sev, evidence, explanation)
}

// text returns the source of node n.
func (s *scan) text(n syntax.Node) string {
	if n == nil {
		return ""
	}
	a, b := int(n.Pos().Offset()), int(n.End().Offset())
	if a < 0 || b > len(s.src) || a >= b {
		return ""
	}
	return s.src[a:b]
}

func (s *scan) stmtList(list []*syntax.Stmt) {
	for _, st := range list {
		s.stmt(st)
	}
}

// stmt analyses one statement and returns the calls it consists of when
// it is a simple command or a pipeline of simple commands.
func (s *scan) stmt(st *syntax.Stmt) []*call {
	if st == nil {
		return nil
	}
	switch cmd := st.Cmd.(type) {
	case *syntax.CallExpr:
		c := s.newCall(cmd, st)
		s.analyzeCall(c)
		return []*call{c}
	case *syntax.BinaryCmd:
		if cmd.Op == syntax.Pipe || cmd.Op == syntax.PipeAll {
			calls := s.pipeline(st)
			s.stmtRedirects(st)
			return calls
		}
		s.stmt(cmd.X)
		s.stmt(cmd.Y)
	case *syntax.Block:
		s.stmtList(cmd.Stmts)
	case *syntax.Subshell:
		s.stmtList(cmd.Stmts)
	case *syntax.IfClause:
		for c := cmd; c != nil; c = c.Else {
			s.stmtList(c.Cond)
			s.stmtList(c.Then)
		}
	case *syntax.WhileClause:
		s.loop++
		s.stmtList(cmd.Cond)
		s.stmtList(cmd.Do)
		s.loop--
	case *syntax.ForClause:
		s.loop++
		if wi, ok := cmd.Loop.(*syntax.WordIter); ok {
			// bind the loop variable to the most sensitive file it
			// iterates over, so that "for f in ~/.ssh/*; do curl -F @$f"
			// is judged by that file
			best, bestSev := "", SeverityNone
			for _, w := range wi.Items {
				r := s.word(w)
				if r.dynamic {
					continue
				}
				if info, ok := classifyRead(r.s); ok && info.sev > bestSev {
					best, bestSev = r.s, info.sev
				}
			}
			if wi.Name != nil && best != "" {
				s.assign(wi.Name.Value, word{s: best}, true, "")
			}
		} else {
			s.scanNested(cmd.Loop)
		}
		s.stmtList(cmd.Do)
		s.loop--
	case *syntax.CaseClause:
		s.word(cmd.Word)
		for _, it := range cmd.Items {
			s.stmtList(it.Stmts)
		}
	case *syntax.FuncDecl:
		s.funcDecl(cmd)
	case *syntax.DeclClause:
		s.declClause(cmd, st)
	case *syntax.TimeClause:
		s.stmt(cmd.Stmt)
	case *syntax.CoprocClause:
		s.stmt(cmd.Stmt)
	case nil:
	default:
		s.scanNested(cmd)
	}
	s.stmtRedirects(st)
	return nil
}

// scanNested analyses command substitutions inside nodes that are not
// otherwise walked (test expressions, arithmetic).
func (s *scan) scanNested(n syntax.Node) {
	if n == nil {
		return
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			s.stmtList(n.Stmts)
			return false
		case *syntax.ProcSubst:
			s.stmtList(n.Stmts)
			return false
		}
		return true
	})
}

// funcDecl looks for the fork bomb  :(){ :|:& };:
func (s *scan) funcDecl(fd *syntax.FuncDecl) {
	if fd.Name != nil {
		name := fd.Name.Value
		self := 0
		syntax.Walk(fd.Body, func(n syntax.Node) bool {
			if ce, ok := n.(*syntax.CallExpr); ok && len(ce.Args) > 0 && ce.Args[0].Lit() == name {
				self++
			}
			return true
		})
		if self >= 2 {
			s.flag(CategoryDestructive, SeverityCritical, s.text(fd), "fork bomb: a function that calls itself twice, exhausting processes")
		}
	}
	s.stmt(fd.Body)
}

func (s *scan) declClause(dc *syntax.DeclClause, st *syntax.Stmt) {
	names, dumpFlag := 0, false
	for _, a := range dc.Args {
		if a.Name == nil {
			if a.Value != nil {
				v := s.word(a.Value)
				if v.s == "-p" || v.s == "-x" && dc.Variant != nil && dc.Variant.Value != "export" {
					dumpFlag = true
				}
			}
			continue
		}
		names++
		var val word
		if a.Value != nil {
			val = s.word(a.Value)
		}
		s.assign(a.Name.Value, val, a.Value != nil, s.text(st))
	}
	if dumpFlag && names == 0 || dc.Variant != nil && dc.Variant.Value == "export" && len(dc.Args) == 0 {
		s.flag(CategoryCredentialAccess, SeverityMedium, s.text(st), "prints all exported variables, which hold secrets")
	}
}

// assign records a variable assignment and checks the variables that
// change how the shell or loader behave.
func (s *scan) assign(name string, val word, hasValue bool, evidence string) {
	if hasValue && (val.substNet || val.substDown) {
		if s.st.taint == nil {
			s.st.taint = make(map[string]taint)
		}
		if len(s.st.taint) < 64 {
			s.st.taint[name] = taint{download: val.substDown, host: val.substHost}
		}
	}
	if hasValue && val.hasSubst {
		if s.st.computed == nil {
			s.st.computed = make(map[string]bool)
		}
		s.st.computed[name] = true
	}
	if hasValue && (!val.dynamic || val.substStatic) {
		if s.st.vars == nil {
			s.st.vars = make(map[string]string)
		}
		if len(s.st.vars) < 256 {
			s.st.vars[name] = val.s
		}
	}
	switch name {
	case "HISTFILE":
		if hasValue && (val.s == "/dev/null" || val.s == "") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, evidence, "disables shell history")
		}
	case "HISTSIZE", "HISTFILESIZE", "SAVEHIST":
		if hasValue && (val.s == "0" || val.s == "") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, evidence, "disables shell history")
		}
	case "HISTIGNORE":
		if val.s == "*" {
			s.flag(CategoryDefenseEvasion, SeverityMedium, evidence, "disables shell history")
		}
	case "PROMPT_COMMAND", "BASH_ENV", "ENV", "PS0":
		if val.s != "" {
			s.flag(CategoryPersistence, SeverityLow, evidence, name+" runs code on every prompt or shell start")
			s.nested(val.s, name)
		}
	case "PATH":
		if d, bad := pathHijack(val.s); hasValue && bad {
			s.flag(CategoryPersistence, SeverityMedium, evidence, "puts the temporary or hidden directory "+d+" on the search path")
		}
	case "LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES":
		sev := SeverityLow
		if hiddenOrTemp(val.s) || val.dynamic || strings.Contains(val.s, "/.") {
			sev = SeverityHigh
		}
		s.flag(CategoryPrivilegeEscalation, sev, evidence, "injects a shared library into programs with "+name)
	}
}

// hiddenOrTemp reports whether p is in a world-writable temporary
// directory or is a hidden file — where dropped payloads live.
func hiddenOrTemp(p string) bool {
	return inTempDir(p) || hiddenFile(p)
}

func inTempDir(p string) bool {
	return strings.HasPrefix(p, "/tmp/") || strings.HasPrefix(p, "/dev/shm/") || strings.HasPrefix(p, "/var/tmp/")
}

// hiddenFile reports whether the last element of path p starts with a dot.
func hiddenFile(p string) bool {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return false
	}
	b := p[i+1:]
	return len(b) > 1 && b[0] == '.' && b != ".."
}
