package anomaly

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

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
	substNet    bool     // … which received data from the network (DNS, sockets, HTTP)
	substHost   hostInfo
	procSubst   []procSubst
	secretVars  []string // names of expanded variables that hold credentials
	guarded     bool     // ${X:?} — fails instead of expanding to nothing
}

type procSubst struct {
	download bool
	host     hostInfo
	text     string // source of the process substitution
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
		r.procSubst = append(r.procSubst, procSubst{download: s.obs.download, host: s.obs.downloadHost, text: s.text(p)})
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
	if t, ok := s.st.taint[name]; ok {
		// the variable holds command output fetched from the network
		r.substNet = true
		if t.download {
			r.substDown, r.substHost = true, t.host
		}
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
	r.substNet = r.substNet || inner.network || inner.download
	r.substDecode = r.substDecode || inner.decode
	if out, _, ok := s.staticOutput(calls); ok {
		r.substStatic = true
		b.WriteString(strings.TrimRight(out, "\n"))
		return
	}
	r.dynamic = true
	b.WriteString("$(…)")
}
