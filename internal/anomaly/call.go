package anomaly

import (
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// arg is one argument of a call; w is nil for arguments that were not
// parsed from shell words (wrapper payloads, container commands).
type arg struct {
	s string
	w *word
}

// redir is a resolved redirection.
type redir struct {
	op     syntax.RedirOperator
	fd     string
	target string
	w      word
	node   *syntax.Redirect
}

// call is a simple command with its wrappers (sudo, env, timeout …)
// stripped, its words resolved and its pipeline neighbours attached.
type call struct {
	st       *syntax.Stmt
	args     []arg // args[0] is the command
	name     string
	nameWord *word // the word the command name came from, if parsed
	env      []envAssign
	redirs   []redir
	sudo     bool   // runs as root through sudo, doas or pkexec
	wrappers string // space-separated wrapper names, for messages
	xargs    bool   // arguments also come from stdin (xargs)
	prev     *call
	next     *call
	piped    bool
	stdin    string // here-string or here-document content
	hasStdin bool   // stdin content is known
	stdout   string // file stdout is redirected to, if any
	evidence string

	written    *string // content written by a file tool (no shell command)
	pipedText  string  // what the previous pipeline stages print, if known
	pipedKnown bool
	stdinItems []string // xargs: arguments arriving on stdin, if known
}

type envAssign struct {
	name string
	val  word
}

func (c *call) arg(i int) string {
	if i < len(c.args) {
		return c.args[i].s
	}
	return ""
}

// rest returns the arguments after the command name.
func (c *call) rest() []arg {
	if len(c.args) == 0 {
		return nil
	}
	return c.args[1:]
}

func (c *call) has(flag string) bool {
	for _, a := range c.rest() {
		if a.s == flag {
			return true
		}
	}
	return false
}

// hasShort reports whether a short option letter appears alone or in a
// group of short options (-rf).
func (c *call) hasShort(letter byte) bool {
	for _, a := range c.rest() {
		if a.s == "--" {
			return false
		}
		if len(a.s) >= 2 && a.s[0] == '-' && a.s[1] != '-' && strings.IndexByte(a.s[1:], letter) >= 0 {
			return true
		}
	}
	return false
}

// newCall resolves a simple command.
func (s *scan) newCall(ce *syntax.CallExpr, st *syntax.Stmt) *call {
	c := &call{st: st, evidence: s.text(st)}
	for _, a := range ce.Assigns {
		if a.Name == nil {
			continue
		}
		var v word
		if a.Value != nil {
			v = s.word(a.Value)
		} else if a.Array != nil {
			s.scanNested(a.Array)
			if len(ce.Args) == 0 {
				s.assignArray(a.Name.Value, a.Array)
			}
		}
		if len(ce.Args) == 0 {
			s.assign(a.Name.Value, v, a.Value != nil, c.evidence)
		} else {
			c.env = append(c.env, envAssign{a.Name.Value, v})
			s.assign(a.Name.Value, v, false, c.evidence)
		}
	}
	c.args = make([]arg, 0, len(ce.Args))
	for i, w := range ce.Args {
		if i == 0 {
			if parts, ok := braceCommand(w); ok {
				s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command built by brace expansion (avoids spaces)")
				for _, p := range parts {
					c.args = append(c.args, arg{s: p})
				}
				continue
			}
		}
		if elems, ok := s.arrayExpansion(w); ok {
			for _, e := range elems {
				c.args = append(c.args, arg{s: e})
			}
			continue
		}
		r := s.word(w)
		if fields, ok := s.splitExpansion(w, r); ok {
			for _, f := range fields {
				rc := r
				c.args = append(c.args, arg{s: f, w: &rc})
			}
			continue
		}
		if r.ifs {
			for _, f := range strings.Fields(r.s) {
				rc := r
				c.args = append(c.args, arg{s: f, w: &rc})
			}
			continue
		}
		rc := r
		c.args = append(c.args, arg{s: r.s, w: &rc})
	}
	if st != nil {
		c.redirs = s.redirects(st)
		for _, rd := range c.redirs {
			switch rd.op {
			case syntax.WordHdoc:
				c.stdin, c.hasStdin = rd.target+"\n", !rd.w.dynamic || rd.w.substStatic
			case syntax.Hdoc, syntax.DashHdoc:
				c.stdin, c.hasStdin = rd.target, true
			case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.RdrAll, syntax.AppAll:
				if (rd.fd == "" || rd.fd == "1") && c.stdout == "" {
					c.stdout = rd.target
				}
			}
		}
	}
	if len(c.args) > 0 {
		c.nameWord = c.args[0].w
	}
	s.unwrap(c)
	if s.root {
		c.sudo = true
	}
	return c
}

// assignArray records an array whose elements are all known.
func (s *scan) assignArray(name string, a *syntax.ArrayExpr) {
	var elems []string
	for _, e := range a.Elems {
		if e.Value == nil || e.Index != nil {
			return
		}
		w := s.word(e.Value)
		if w.dynamic && !w.substStatic {
			return
		}
		elems = append(elems, w.s)
	}
	if s.st.arrays == nil {
		s.st.arrays = make(map[string][]string)
	}
	if len(s.st.arrays) < 32 {
		s.st.arrays[name] = elems
	}
}

// arrayExpansion expands "${name[@]}" of a known array.
func (s *scan) arrayExpansion(w *syntax.Word) ([]string, bool) {
	if len(w.Parts) != 1 {
		return nil, false
	}
	p := w.Parts[0]
	if dq, ok := p.(*syntax.DblQuoted); ok && len(dq.Parts) == 1 {
		p = dq.Parts[0]
	}
	pe, ok := p.(*syntax.ParamExp)
	if !ok || pe.Param == nil || pe.Index == nil || pe.Excl || pe.Length || pe.Slice != nil || pe.Repl != nil || pe.Exp != nil {
		return nil, false
	}
	if iw, ok := pe.Index.(*syntax.Word); !ok || iw.Lit() != "@" && iw.Lit() != "*" {
		return nil, false
	}
	elems, ok := s.st.arrays[pe.Param.Value]
	return elems, ok && len(elems) > 0
}

// splitExpansion splits an unquoted expansion of a known variable on
// $IFS, as the shell does: decoder="base64 -d"; … | $decoder.
func (s *scan) splitExpansion(w *syntax.Word, r word) ([]string, bool) {
	if r.resolved == 0 || r.dynamic || r.ifs {
		return nil, false
	}
	hasParam := false
	for _, p := range w.Parts {
		switch p.(type) {
		case *syntax.ParamExp:
			hasParam = true
		case *syntax.Lit:
		default:
			return nil, false
		}
	}
	if !hasParam {
		return nil, false
	}
	ifs, custom := s.st.vars["IFS"]
	if !custom {
		ifs = " \t\n"
	}
	fields := strings.FieldsFunc(r.s, func(c rune) bool { return strings.ContainsRune(ifs, c) })
	if len(fields) < 2 {
		return nil, false
	}
	return fields, true
}

// redirects resolves the redirections of a statement.
func (s *scan) redirects(st *syntax.Stmt) []redir {
	if len(st.Redirs) == 0 {
		return nil
	}
	out := make([]redir, 0, len(st.Redirs))
	for _, r := range st.Redirs {
		rd := redir{op: r.Op, node: r}
		if r.N != nil {
			rd.fd = r.N.Value
		}
		if r.Hdoc != nil {
			rd.w = s.word(r.Hdoc)
			rd.target = rd.w.s
		} else if r.Word != nil {
			rd.w = s.word(r.Word)
			rd.target = rd.w.s
		}
		out = append(out, rd)
	}
	return out
}

// braceCommand expands a first word like {cat,/etc/passwd}.
func braceCommand(w *syntax.Word) ([]string, bool) {
	lit := w.Lit()
	if len(lit) < 4 || lit[0] != '{' || lit[len(lit)-1] != '}' || !strings.Contains(lit, ",") || strings.Contains(lit, "..") {
		return nil, false
	}
	parts := strings.Split(lit[1:len(lit)-1], ",")
	if parts[0] == "" {
		return nil, false
	}
	return parts, true
}

// cmdName returns the command name of argv[0]: the base name, without
// leading backslashes, with interpreter versions folded (python3.12 →
// python3).
func cmdName(s string) string {
	s = strings.TrimLeft(s, `\`)
	if i := strings.LastIndexByte(s, '/'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	switch s {
	case "nc.traditional", "nc.openbsd", "netcat.traditional", "netcat.openbsd", "ncat.exe", "nc.exe":
		return "nc"
	}
	for _, p := range []string{"python3", "python2", "pip3", "perl5", "php", "ruby", "node", "lua"} {
		if strings.HasPrefix(s, p) && len(s) > len(p) && (s[len(p)] == '.' || s[len(p)] >= '0' && s[len(p)] <= '9') {
			return p
		}
	}
	return s
}

// unwrap strips wrapper commands whose argument is another command: up
// to eight layers (sudo env nice timeout cmd), each handled by its entry
// in wrappers or, failing that, by launcherCommand.
func (s *scan) unwrap(c *call) {
	for range 8 {
		if len(c.args) == 0 {
			break
		}
		name := cmdName(c.args[0].s)
		var rest int
		if w, ok := wrappers[name]; ok {
			var done bool
			if rest, done = w(s, c, name); done {
				return
			}
		} else if rest = launcherCommand(c, name); rest <= 0 || rest >= len(c.args) {
			c.name = name
			return
		}
		if rest >= len(c.args) {
			c.name = name
			return
		}
		if c.wrappers != "" {
			c.wrappers += " "
		}
		c.wrappers += name
		c.args = c.args[rest:]
		c.nameWord = c.args[0].w
	}
	if len(c.args) > 0 {
		c.name = cmdName(c.args[0].s)
	}
}

// A wrapper strips one wrapper command (c.args[0], called name) from c.
// It returns the index in c.args where the wrapped command starts, or
// done when c is the final command and the wrapper has set c.name. An
// index past the arguments means the wrapper ran nothing.
type wrapper func(s *scan, c *call, name string) (rest int, done bool)

// wrappers maps a wrapper command's name to its handler. It is filled by
// init because the handlers reach unwrap again through s.nested.
var wrappers map[string]wrapper

func init() {
	wrappers = map[string]wrapper{
		"sudo": unwrapSudo, "doas": unwrapSudo,
		"pkexec":  unwrapPkexec,
		"env":     unwrapEnv,
		"command": unwrapCommand, "exec": unwrapCommand,
		"time":    unwrapTime,
		"doppler": unwrapSecretRunner, "op": unwrapSecretRunner,
		"timeout": unwrapTimeout,
		"xargs":   unwrapXargs,
		"watch":   unwrapWatch,
		"flock":   unwrapFlock,

		"start-stop-daemon": unwrapStartStopDaemon,
	}
	for _, name := range []string{"nohup", "builtin", "unbuffer", "caffeinate", "chronic", "setsid", "stdbuf", "nice", "ionice",
		"strace", "ltrace", "busybox", "catchsegv", "eatmydata"} {
		wrappers[name] = unwrapPrefix
	}
	for _, name := range []string{"proxychains", "proxychains4", "torsocks", "torify", "tsocks"} {
		wrappers[name] = unwrapProxy
	}
}

// skipOpts returns the index of the first argument after c.args[0] that
// is not an option; an option in valued takes the next argument too.
func skipOpts(c *call, valued ...string) int {
	i := 1
	for i < len(c.args) && strings.HasPrefix(c.args[i].s, "-") {
		if slices.Contains(valued, c.args[i].s) {
			i++
		}
		i++
	}
	return i
}

// prefixValueOpts are the options of the plain prefix wrappers (nice -n,
// stdbuf -o, strace -e, ...) that take a value.
var prefixValueOpts = []string{"-n", "-c", "-p", "-o", "-e", "-s", "-i", "-a", "-f", "-E", "-u", "-P", "-t"}

// takeAssign records arg a, when it is NAME=value, as part of c's
// environment (and as a shell assignment) and reports whether it was one.
func (s *scan) takeAssign(c *call, a arg) bool {
	eq := strings.IndexByte(a.s, '=')
	if eq <= 0 || !syntax.ValidName(a.s[:eq]) {
		return false
	}
	var w word
	if a.w != nil {
		w = *a.w
	}
	w.s = a.s[eq+1:]
	c.env = append(c.env, envAssign{a.s[:eq], w})
	s.assign(a.s[:eq], w, false, c.evidence)
	return true
}

// unwrapSudo: sudo/doas [options] [NAME=value ...] cmd. c.sudo records
// whether the command runs as root.
func unwrapSudo(s *scan, c *call, name string) (int, bool) {
	i, nonRoot, ok := skipSudoOpts(c.args)
	if ok && i < len(c.args) {
		c.sudo = c.sudo || !nonRoot
		for i < len(c.args) && s.takeAssign(c, c.args[i]) {
			i++
		}
		if i < len(c.args) {
			return i, false
		}
	}
	c.name = name
	c.sudo = !nonRoot
	return 0, true
}

// unwrapPkexec: pkexec [--user u] cmd, always privileged.
func unwrapPkexec(s *scan, c *call, name string) (int, bool) {
	c.sudo = true
	return skipOpts(c, "--user"), false
}

// unwrapEnv: env [options] [NAME=value ...] [cmd]. env -S splits its
// argument into a command line, analysed as nested shell text; env
// without a command prints (env) or sets (env-set) the environment.
func unwrapEnv(s *scan, c *call, name string) (int, bool) {
	i := 1
	for i < len(c.args) {
		a := c.args[i].s
		if a == "--" {
			i++
			break
		}
		if a == "-u" || a == "-C" || a == "--unset" || a == "--chdir" {
			i += 2
			continue
		}
		if a == "-S" || a == "--split-string" {
			if i+1 < len(c.args) {
				s.nested(strings.Join(argStrings(c.args[i+1:]), " "), "env -S")
			}
			c.name = "env"
			return 0, true
		}
		if strings.HasPrefix(a, "-") || s.takeAssign(c, c.args[i]) {
			i++
			continue
		}
		break
	}
	if i >= len(c.args) {
		c.name = "env"
		if len(c.args) > 1 {
			c.name = "env-set"
		}
		return 0, true
	}
	return i, false
}

// unwrapCommand: command/exec [options] cmd; command -v only looks the
// name up.
func unwrapCommand(s *scan, c *call, name string) (int, bool) {
	if a := c.arg(1); a == "-v" || a == "-V" {
		c.name = name
		return 0, true
	}
	return skipOpts(c), false
}

// unwrapTime: time [options] cmd; none of its options take a value.
func unwrapTime(s *scan, c *call, name string) (int, bool) {
	return skipOpts(c), false
}

// unwrapPrefix: nohup, nice, stdbuf, strace and the like: [options] cmd.
func unwrapPrefix(s *scan, c *call, name string) (int, bool) {
	return skipOpts(c, prefixValueOpts...), false
}

// unwrapProxy: proxychains, torsocks and the like hide where the wrapped
// command's traffic goes.
func unwrapProxy(s *scan, c *call, name string) (int, bool) {
	s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "routes traffic through "+name+" to hide its destination")
	return unwrapPrefix(s, c, name)
}

// unwrapSecretRunner: the secret managers' "doppler run -- cmd" and
// "op run -- cmd".
func unwrapSecretRunner(s *scan, c *call, name string) (int, bool) {
	j := indexOf(c.args, "--")
	if j < 0 {
		c.name = name
		return 0, true
	}
	return j + 1, false
}

// unwrapTimeout: timeout [options] duration cmd.
func unwrapTimeout(s *scan, c *call, name string) (int, bool) {
	return skipOpts(c, "-s", "-k", "--signal", "--kill-after") + 1, false
}

// unwrapXargs: xargs [options] [cmd]; without a command xargs runs echo.
func unwrapXargs(s *scan, c *call, name string) (int, bool) {
	i := skipOpts(c, "-I", "-n", "-P", "-d", "-L", "-a", "-E", "-s", "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace")
	c.xargs = true
	if i >= len(c.args) {
		c.args = []arg{{s: "echo"}}
		c.name = "echo"
		return 0, true
	}
	return i, false
}

// unwrapWatch: watch -x runs a command; plain watch runs shell text (see
// ruleWatch).
func unwrapWatch(s *scan, c *call, name string) (int, bool) {
	i, exec := watchCommand(c)
	if !exec || i >= len(c.args) {
		c.name = "watch"
		return 0, true
	}
	return i, false
}

// unwrapFlock: flock [options] lockfile cmd; flock -c runs shell text,
// analysed as nested.
func unwrapFlock(s *scan, c *call, name string) (int, bool) {
	i := 1
	for i < len(c.args) && strings.HasPrefix(c.args[i].s, "-") {
		if c.args[i].s == "-c" && i+1 < len(c.args) {
			s.nested(c.args[i+1].s, "flock -c")
		}
		if c.args[i].s == "-w" || c.args[i].s == "-E" || c.args[i].s == "-c" {
			i++
		}
		i++
	}
	return i + 1, false // the lock file
}

// unwrapStartStopDaemon: start-stop-daemon --start --exec prog runs prog
// (without its arguments, which follow a "--").
func unwrapStartStopDaemon(s *scan, c *call, name string) (int, bool) {
	for i, a := range c.args {
		if (a.s == "-x" || a.s == "--exec" || a.s == "-a" || a.s == "--startas") && i+1 < len(c.args) && (c.has("-S") || c.has("--start")) {
			c.args = []arg{c.args[i+1]}
			c.nameWord = c.args[0].w
			c.wrappers += " start-stop-daemon"
			c.name = cmdName(c.args[0].s)
			return 0, true
		}
	}
	c.name = name
	return 0, true
}

// skipSudoOpts returns the index of the command after sudo's options and
// whether -u names a user other than root.
func skipSudoOpts(args []arg) (i int, nonRoot bool, ok bool) {
	i = 1
	for i < len(args) {
		a := args[i].s
		if a == "--" {
			return i + 1, nonRoot, true
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return i, nonRoot, true
		}
		switch a {
		case "-u", "--user":
			if i+1 < len(args) && args[i+1].s != "root" && args[i+1].s != "0" && args[i+1].s != "#0" {
				nonRoot = true
			}
			i += 2
			continue
		case "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host", "-p", "--prompt", "-r", "--role",
			"-t", "--type", "-U", "--other-user", "-T", "--command-timeout", "-R", "--chroot":
			i += 2
			continue
		}
		if strings.HasPrefix(a, "--user=") {
			u := strings.TrimPrefix(a, "--user=")
			nonRoot = u != "root" && u != "0"
		}
		i++
	}
	return i, nonRoot, true
}

func argStrings(args []arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.s
	}
	return out
}

func indexOf(args []arg, s string) int {
	for i, a := range args {
		if a.s == s {
			return i
		}
	}
	return -1
}

// synthCall builds a call from plain strings (a container's command, a
// find -exec command, an xargs payload).
func (s *scan) synthCall(parent *call, argv []string) *call {
	c := &call{evidence: parent.evidence, sudo: parent.sudo, prev: parent.prev, next: parent.next, piped: parent.piped,
		xargs: parent.xargs, stdinItems: parent.stdinItems, stdout: parent.stdout}
	for _, a := range argv {
		c.args = append(c.args, arg{s: a})
	}
	s.unwrap(c)
	return c
}

// staticOutput computes what a pipeline of calls prints when that is
// known without running it: echo/printf of literal text, here-strings,
// through decoders (base64 -d, xxd -r, rev, rot13 tr). decoded reports
// whether a decoding step was involved.
func (s *scan) staticOutput(calls []*call) (out string, decoded bool, ok bool) {
	if len(calls) == 0 || len(calls) > 8 {
		return "", false, false
	}
	for i, c := range calls {
		if i == 0 {
			switch {
			case c.name == "echo" || c.name == "printf":
				o, enc, ok := echoOutput(c)
				if !ok {
					return "", false, false
				}
				out, decoded = o, enc
				continue
			case c.hasStdin:
				out = c.stdin
			default:
				return "", false, false
			}
		}
		o, dec, ok := transform(c, out)
		if !ok {
			return "", false, false
		}
		out, decoded = o, decoded || dec
	}
	return out, decoded, true
}

// echoOutput returns what echo or printf with static arguments prints.
func echoOutput(c *call) (string, bool, bool) {
	args := c.rest()
	for _, a := range args {
		if a.w != nil && a.w.dynamic && !a.w.substStatic {
			return "", false, false
		}
	}
	if c.name == "printf" {
		if len(args) == 0 {
			return "", false, false
		}
		i := 0
		if args[0].s == "--" {
			i++
		}
		if i < len(args) && args[i].s == "-v" {
			return "", false, false
		}
		if i >= len(args) {
			return "", false, false
		}
		o, enc, ok := printfFormat(args[i].s, argStrings(args[i+1:]))
		return o, enc, ok
	}
	interp, newline := false, true
	i := 0
	for i < len(args) && len(args[i].s) >= 2 && args[i].s[0] == '-' && strings.Trim(args[i].s[1:], "neE") == "" {
		if strings.Contains(args[i].s, "e") {
			interp = true
		}
		if strings.Contains(args[i].s, "n") {
			newline = false
		}
		i++
	}
	o := strings.Join(argStrings(args[i:]), " ")
	enc := false
	if interp {
		o, enc = unescapeC(o)
	}
	if newline {
		o += "\n"
	}
	return o, enc, true
}

// transform applies a filter command to known input.
func transform(c *call, in string) (string, bool, bool) {
	switch c.name {
	case "cat", "tee":
		if len(c.rest()) == 0 || c.name == "tee" {
			return in, false, true
		}
	case "base64", "base32", "basenc":
		if isDecodeCall(c) && c.name == "base64" {
			o, ok := decodeBase64(in)
			return o, true, ok
		}
	case "xxd":
		if c.hasShort('r') {
			o, ok := decodeHex(in)
			return o, true, ok
		}
	case "rev":
		lines := strings.Split(strings.TrimRight(in, "\n"), "\n")
		for i, l := range lines {
			lines[i] = reverse(l)
		}
		return strings.Join(lines, "\n") + "\n", true, true
	case "tr":
		if isRot13(c) {
			return rot13(in), true, true
		}
	case "openssl":
		if c.arg(1) == "base64" || c.arg(1) == "enc" {
			o, ok := decodeBase64(in)
			return o, true, ok
		}
	}
	return "", false, false
}

// isDecodeCall reports whether c decodes or decompresses its input.
func isDecodeCall(c *call) bool {
	switch c.name {
	case "base64", "base32", "basenc":
		return c.hasShort('d') || c.has("--decode") || c.hasShort('D')
	case "xxd":
		return c.hasShort('r')
	case "uudecode", "gunzip", "zcat", "bzcat", "xzcat", "zstdcat", "rev", "unxz", "lzcat":
		return true
	case "gzip", "bzip2", "xz", "zstd", "lz4", "brotli":
		return c.hasShort('d') || c.has("--decompress")
	case "openssl":
		return c.has("-d") && (c.arg(1) == "enc" || c.arg(1) == "base64")
	case "tr":
		return isRot13(c)
	case "python", "python3":
		return false
	}
	return false
}

func isRot13(c *call) bool {
	a, b := c.arg(1), c.arg(2)
	return (strings.HasPrefix(a, "a-z") || strings.HasPrefix(a, "A-Z") || strings.HasPrefix(a, "[a-z]")) &&
		(strings.HasPrefix(b, "n-z") || strings.HasPrefix(b, "N-Z") || strings.HasPrefix(b, "[n-z"))
}

// isShell reports whether name is a shell interpreter.
func isShell(name string) bool {
	switch name {
	case "sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "csh", "tcsh", "rbash", "busybox-sh", "yash", "pwsh", "powershell":
		return true
	}
	return false
}

// isInterpreter reports whether name runs a scripting language.
func isInterpreter(name string) bool {
	switch name {
	case "python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node", "nodejs", "bun", "deno", "php", "lua", "luajit", "tclsh", "Rscript", "osascript",
		"jrunscript", "jjs", "julia", "groovy", "scala", "wish", "expect":
		return true
	}
	return false
}

// readsScriptFromStdin reports whether an interpreter call executes
// what arrives on its standard input.
func readsScriptFromStdin(c *call) bool {
	if !isShell(c.name) && !isInterpreter(c.name) {
		return false
	}
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		switch {
		case a == "-" || a == "-s" || a == "/dev/stdin":
			return true
		case a == "--":
			return i+1 >= len(args) || args[i+1].s == "-"
		case a == "-c" || a == "-e" || a == "-r" || a == "--eval" || a == "-E" || a == "-m":
			return false
		case strings.HasPrefix(a, "-"):
			if len(a) > 2 && a[1] != '-' && strings.ContainsAny(a[1:], "ce") && (isShell(c.name) || c.name == "perl" || c.name == "ruby" || c.name == "node") {
				return false // -ic, -le …
			}
			if (c.name == "ruby" || c.name == "perl") && (a == "-r" || strings.HasPrefix(a, "-r") || strings.HasPrefix(a, "-M")) {
				continue
			}
			if a == "-O" || a == "-o" || a == "-W" || a == "-X" {
				i++
			}
		default:
			return false // a script file
		}
	}
	return true
}

// cleanPathArg returns a cleaned path for comparing file names.
func cleanPathArg(p string) string {
	if p == "" {
		return ""
	}
	return normalizePath(path.Clean(p))
}
