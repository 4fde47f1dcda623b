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
}

// observed records what the commands of one scope did, for the rules
// that look at a whole pipeline or command substitution.
type observed struct {
	download     bool // something fetched remote content to stdout
	downloadHost hostInfo
	decode       bool // something decoded data to stdout
	network      bool // a network client ran
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
	n := &scan{d: s.d, f: s.f, st: s.st, depth: s.depth + 1, origin: origin, loop: s.loop}
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
	case "LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES":
		sev := SeverityLow
		if hiddenOrTemp(val.s) || val.dynamic {
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

// word is a shell word resolved as far as static analysis allows.
type word struct {
	s           string
	dynamic     bool // contains an expansion whose value is unknown
	quoted      bool
	quoteSplit  bool     // quotes inside a word between letters: r""m, c"u"rl
	escaped     bool     // backslash before a letter inside the word: c\url
	leadEscape  bool     // backslash before the first letter: \rm
	ansi        bool     // $'…' escapes that spell printable characters
	params      int      // parameter expansions
	param       string   // name of the first parameter expanded
	resolved    int      // … of which were resolved
	ifs         bool     // uses $IFS as a separator
	slice       bool     // ${VAR:off:len}
	glob        bool     // unquoted glob characters
	hasSubst    bool     // command substitution
	substStatic bool     // … whose output was computed statically
	substDecode bool     // … which decoded data (base64 -d etc.)
	substReads  Severity // worst sensitive read inside command substitutions
	raw         string   // source text of the command substitutions
	substDown   bool     // … which downloaded remote content
	substHost   hostInfo
	procSubst   []procSubst
	secretVars  []string // names of expanded variables that hold credentials
	guarded     bool     // ${X:?} — fails instead of expanding to nothing
}

type procSubst struct {
	download bool
	host     hostInfo
}

func (s *scan) word(w *syntax.Word) word {
	var r word
	if w == nil {
		return r
	}
	if len(w.Parts) == 1 {
		if l, ok := w.Parts[0].(*syntax.Lit); ok && strings.IndexByte(l.Value, '\\') < 0 {
			r.s = l.Value
			r.glob = strings.ContainsAny(l.Value, "*?[")
			return r
		}
	}
	var b strings.Builder
	for i, p := range w.Parts {
		s.part(&r, &b, p, false)
		if i > 0 {
			r.quoteSplit = r.quoteSplit || splitsLetters(w.Parts[i-1], p)
		}
	}
	r.s = b.String()
	return r
}

// splitsLetters reports whether the boundary between two adjacent word
// parts, one of them quoted, falls between two letters (or an empty
// quote sits next to a letter).
func splitsLetters(a, b syntax.WordPart) bool {
	_, aq := a.(*syntax.Lit)
	_, bq := b.(*syntax.Lit)
	if aq && bq {
		return false
	}
	la, oka := lastLetter(a)
	fb, okb := firstLetter(b)
	if !oka || !okb {
		return false
	}
	return isAlnum(la) && isAlnum(fb)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lastLetter/firstLetter return the edge character of a literal or quoted
// part; an empty quoted part reports a letter so that r""m counts.
func lastLetter(p syntax.WordPart) (byte, bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		if p.Value != "" {
			return p.Value[len(p.Value)-1], true
		}
	case *syntax.SglQuoted:
		if p.Value == "" {
			return 'a', true
		}
		return p.Value[len(p.Value)-1], true
	case *syntax.DblQuoted:
		if len(p.Parts) == 0 {
			return 'a', true
		}
		if l, ok := p.Parts[len(p.Parts)-1].(*syntax.Lit); ok && l.Value != "" {
			return l.Value[len(l.Value)-1], true
		}
	}
	return 0, false
}

func firstLetter(p syntax.WordPart) (byte, bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		if p.Value != "" {
			return p.Value[0], true
		}
	case *syntax.SglQuoted:
		if p.Value == "" {
			return 'a', true
		}
		return p.Value[0], true
	case *syntax.DblQuoted:
		if len(p.Parts) == 0 {
			return 'a', true
		}
		if l, ok := p.Parts[0].(*syntax.Lit); ok && l.Value != "" {
			return l.Value[0], true
		}
	}
	return 0, false
}

func (s *scan) part(r *word, b *strings.Builder, p syntax.WordPart, inDQ bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		v := p.Value
		if !inDQ && strings.ContainsAny(v, "*?[") {
			r.glob = true
		}
		if strings.IndexByte(v, '\\') >= 0 {
			v = unescapeLit(v, inDQ, r, b.Len() == 0)
		}
		b.WriteString(v)
	case *syntax.SglQuoted:
		r.quoted = true
		if p.Dollar {
			v, enc := unescapeC(p.Value)
			r.ansi = r.ansi || enc
			b.WriteString(v)
		} else {
			b.WriteString(p.Value)
		}
	case *syntax.DblQuoted:
		r.quoted = true
		for _, q := range p.Parts {
			s.part(r, b, q, true)
		}
	case *syntax.ParamExp:
		s.param(r, b, p)
	case *syntax.CmdSubst:
		s.cmdSubst(r, b, p)
	case *syntax.ArithmExp:
		r.dynamic = true
		s.scanNested(p)
		b.WriteString("0")
	case *syntax.ProcSubst:
		saved := s.obs
		s.obs = observed{}
		s.stmtList(p.Stmts)
		r.procSubst = append(r.procSubst, procSubst{download: s.obs.download, host: s.obs.downloadHost})
		s.obs = saved
		b.WriteString("/dev/fd/63")
	case *syntax.ExtGlob:
		r.glob = true
		b.WriteString(p.Op.String())
		if p.Pattern != nil {
			b.WriteString(p.Pattern.Value)
		}
		b.WriteByte(')')
	}
}

// unescapeLit removes shell backslash escapes from a literal.
func unescapeLit(v string, inDQ bool, r *word, atStart bool) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 >= len(v) {
			b.WriteByte(c)
			continue
		}
		n := v[i+1]
		if n == '\n' {
			i++
			continue
		}
		if inDQ {
			if n == '$' || n == '`' || n == '"' || n == '\\' {
				b.WriteByte(n)
				i++
			} else {
				b.WriteByte('\\')
			}
			continue
		}
		if isAlnum(n) {
			if i == 0 && atStart {
				r.leadEscape = true
			} else {
				r.escaped = true
			}
		}
		b.WriteByte(n)
		i++
	}
	return b.String()
}

func (s *scan) param(r *word, b *strings.Builder, p *syntax.ParamExp) {
	r.params++
	name := ""
	if p.Param != nil {
		name = p.Param.Value
	}
	if r.param == "" {
		r.param = name
	}
	if secretName(name) {
		r.secretVars = append(r.secretVars, name)
	}
	if p.Exp != nil && p.Exp.Word != nil {
		// nested words may hold command substitutions; analyse them
		if p.Exp.Op == syntax.ErrorUnset || p.Exp.Op == syntax.ErrorUnsetOrNull {
			r.guarded = true
		}
	}
	switch {
	case p.Excl || p.Length || p.Width || p.IsSet || p.Index != nil || p.Repl != nil || p.Names != 0 || p.NestedParam != nil:
		r.dynamic = true
		b.WriteString("$" + name)
		return
	case p.Slice != nil:
		r.slice = true
		if (name == "PATH" || name == "HOME" || name == "PWD" || name == "SHELL" || name == "OLDPWD") && sliceIsFirstChar(p.Slice) {
			b.WriteByte('/')
			r.resolved++
			return
		}
		r.dynamic = true
		b.WriteString("$" + name)
		return
	}
	switch name {
	case "IFS":
		r.ifs = true
		r.resolved++
		b.WriteByte(' ')
		return
	case "HOME":
		r.resolved++
		b.WriteByte('~')
		return
	}
	if v, ok := s.st.vars[name]; ok {
		r.resolved++
		b.WriteString(v)
		return
	}
	if p.Exp != nil && p.Exp.Word != nil && (p.Exp.Op == syntax.DefaultUnset || p.Exp.Op == syntax.DefaultUnsetOrNull) {
		w := s.word(p.Exp.Word)
		r.dynamic = r.dynamic || w.dynamic
		b.WriteString(w.s)
		return
	}
	if p.Exp != nil && p.Exp.Word != nil {
		s.word(p.Exp.Word)
	}
	r.dynamic = true
	b.WriteString("$" + name)
}

func sliceIsFirstChar(sl *syntax.Slice) bool {
	lit := func(e syntax.ArithmExpr) string {
		if w, ok := e.(*syntax.Word); ok {
			return w.Lit()
		}
		return ""
	}
	return lit(sl.Offset) == "0" && lit(sl.Length) == "1"
}

func (s *scan) cmdSubst(r *word, b *strings.Builder, cs *syntax.CmdSubst) {
	r.hasSubst = true
	if r.raw == "" {
		r.raw = s.text(cs)
	} else if len(r.raw) < 1024 {
		r.raw += " " + s.text(cs)
	}
	from := len(s.f.flags)
	saved, savedRead := s.obs, s.substRead
	s.obs, s.substRead = observed{}, SeverityNone
	s.inSubst++
	var calls []*call
	for _, st := range cs.Stmts {
		c := s.stmt(st)
		if len(cs.Stmts) == 1 {
			calls = c
		}
	}
	inner, read := s.obs, s.substRead
	s.obs, s.substRead = saved, max(savedRead, read)
	s.inSubst--
	if m := max(s.f.max(CategoryCredentialAccess, from), read); m > r.substReads {
		r.substReads = m
	}
	if inner.download {
		r.substDown, r.substHost = true, inner.downloadHost
	}
	r.substDecode = r.substDecode || inner.decode
	if out, _, ok := s.staticOutput(calls); ok {
		r.substStatic = true
		b.WriteString(strings.TrimRight(out, "\n"))
		return
	}
	r.dynamic = true
	b.WriteString("$(…)")
}
