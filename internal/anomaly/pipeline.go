package anomaly

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// flattenPipe collects the stages of a pipeline in order.
func flattenPipe(st *syntax.Stmt, out []*syntax.Stmt) []*syntax.Stmt {
	if b, ok := st.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) && len(st.Redirs) == 0 {
		out = flattenPipe(b.X, out)
		return flattenPipe(b.Y, out)
	}
	return append(out, st)
}

// stage is one element of a pipeline: a call, or a group of calls in a
// subshell or block.
type stage struct {
	c        *call
	group    []*call
	text     string // known output of the group's echo/printf commands
	loopExec bool   // while read line; do $line; done
	flagFrom int    // index of the first finding this stage produced
	flagTo   int
}

// pipeline analyses a pipeline as a whole and then each stage.
func (s *scan) pipeline(st *syntax.Stmt) []*call {
	stmts := flattenPipe(st, nil)
	stages := make([]stage, len(stmts))
	for i, ps := range stmts {
		switch cmd := ps.Cmd.(type) {
		case *syntax.CallExpr:
			stages[i].c = s.newCall(cmd, ps)
		case *syntax.Subshell, *syntax.Block:
			var list []*syntax.Stmt
			if sub, ok := cmd.(*syntax.Subshell); ok {
				list = sub.Stmts
			} else {
				list = cmd.(*syntax.Block).Stmts
			}
			stages[i].flagFrom = len(s.f.flags)
			var b strings.Builder
			for _, x := range list {
				calls := s.stmt(x)
				stages[i].group = append(stages[i].group, calls...)
				if len(calls) == 1 && (calls[0].name == "echo" || calls[0].name == "printf") {
					if o, _, ok := echoOutput(calls[0]); ok {
						b.WriteString(o)
					}
				}
			}
			stages[i].text = b.String()
			stages[i].flagTo = len(s.f.flags)
			s.stmtRedirects(ps)
		case *syntax.WhileClause:
			stages[i].flagFrom = len(s.f.flags)
			stages[i].loopExec = runsLineAsCommand(cmd)
			s.stmt(ps)
			stages[i].flagTo = len(s.f.flags)
		default:
			stages[i].flagFrom = len(s.f.flags)
			s.stmt(ps)
			stages[i].flagTo = len(s.f.flags)
		}
	}
	// link neighbours and known piped text
	var prev *call
	known, text := true, ""
	for i := range stages {
		c := stages[i].c
		if c != nil {
			c.piped = true
			c.prev = prev
			if prev != nil {
				prev.next = c
			}
			if i > 0 && known {
				c.pipedText, c.pipedKnown = text, true
			}
			if c.xargs && i > 0 {
				c.stdinItems = stageItems(stages[i-1], text, known)
			}
			prev = c
			switch {
			case i == 0 && (c.name == "echo" || c.name == "printf"):
				text, _, known = echoOutput(c)
			case known && i > 0:
				var ok bool
				text, _, ok = transform(c, text)
				known = ok
			case c.hasStdin:
				text, known = "", false
				if o, _, ok := transform(c, c.stdin); ok {
					text, known = o, true
				}
			default:
				known = false
			}
			continue
		}
		prev = nil
		if stages[i].text != "" {
			text, known = stages[i].text, true
		} else {
			known = false
		}
	}
	calls := make([]*call, 0, len(stages))
	for i := range stages {
		if c := stages[i].c; c != nil {
			stages[i].flagFrom = len(s.f.flags)
			s.analyzeCall(c)
			stages[i].flagTo = len(s.f.flags)
			calls = append(calls, c)
		}
	}
	s.pipelineRules(stages, s.text(st))
	if len(calls) != len(stages) {
		return nil
	}
	return calls
}

// runsLineAsCommand reports whether a while loop executes the lines it
// reads: while read line; do $line; done.
func runsLineAsCommand(w *syntax.WhileClause) bool {
	found := false
	for _, st := range w.Do {
		syntax.Walk(st, func(n syntax.Node) bool {
			if ce, ok := n.(*syntax.CallExpr); ok && len(ce.Args) > 0 && len(ce.Args[0].Parts) == 1 {
				if _, ok := ce.Args[0].Parts[0].(*syntax.ParamExp); ok {
					found = true
				}
			}
			return !found
		})
	}
	return found
}

// stageItems returns the whitespace-separated items a stage prints, for
// xargs: a find's start directories, or known text.
func stageItems(st stage, text string, known bool) []string {
	if c := st.c; c != nil && c.name == "find" {
		return findRoots(c)
	}
	if known {
		return strings.Fields(text)
	}
	return nil
}

// isDownloader reports whether c writes fetched remote content to stdout,
// and where from.
func (s *scan) isDownloader(c *call) (bool, hostInfo) {
	switch c.name {
	case "curl":
		if curlOutputsToFile(c) {
			return false, hostInfo{}
		}
		return true, s.firstURLHost(c)
	case "wget":
		o := wgetOutput(c)
		if o == "-" || o == "/dev/stdout" {
			return true, s.firstURLHost(c)
		}
	case "fetch", "ftp", "tftp":
		for i, a := range c.rest() {
			if (a.s == "-o" || a.s == "-O") && i+1 < len(c.rest()) && c.rest()[i+1].s == "-" {
				return true, s.firstURLHost(c)
			}
		}
	case "http", "https", "httpie", "xh", "lwp-request", "GET", "aria2c":
		return true, s.firstURLHost(c)
	}
	if w := c.nameWord; w != nil && w.dynamic && w.resolved == 0 {
		// a program whose name we cannot resolve, given a URL: assume
		// it fetches it
		for _, a := range c.rest() {
			if strings.Contains(a.s, "://") {
				return true, s.d.inspectURL(a.s).host
			}
		}
	}
	return false, hostInfo{}
}

// netClient reports whether c is a raw network client (nc, telnet …)
// connected to a remote host.
func (s *scan) netClient(c *call) bool {
	switch c.name {
	case "nc", "ncat", "netcat", "telnet", "socat", "cryptcat", "pwncat":
		return true
	case "openssl":
		return c.arg(1) == "s_client"
	}
	return false
}

// isNetworkSink reports whether c sends its standard input over the
// network.
func isNetworkSink(c *call) bool {
	if c == nil {
		return false
	}
	switch c.name {
	case "nc", "ncat", "netcat", "telnet", "socat", "cryptcat":
		return !c.hasShort('l') && !c.hasShort('z')
	case "openssl":
		return c.arg(1) == "s_client"
	case "curl":
		for i, a := range c.rest() {
			v := a.s
			if strings.HasPrefix(v, "-") && !strings.HasPrefix(v, "--") && i+1 < len(c.rest()) && strings.ContainsAny(v[len(v)-1:], "dTF") {
				v = c.rest()[i+1].s
			}
			if v == "@-" || strings.HasSuffix(v, "=@-") || v == "-" && i > 0 && (c.rest()[i-1].s == "-T" || c.rest()[i-1].s == "--upload-file") ||
				strings.HasSuffix(v, "@/dev/stdin") || v == "/dev/stdin" {
				return true
			}
		}
	case "wget":
		for _, a := range c.rest() {
			if a.s == "--post-file=/dev/stdin" || a.s == "--body-file=/dev/stdin" {
				return true
			}
		}
	case "mail", "mailx", "mutt", "sendmail", "ssh":
		return true
	case "aws", "gsutil", "rclone", "az":
		for _, a := range c.rest() {
			if a.s == "-" {
				return true
			}
		}
	}
	return false
}

// pipelineRules judges what flows between the stages of a pipeline.
func (s *scan) pipelineRules(stages []stage, ev string) {
	for j := range stages {
		sink := stages[j].c
		execSink := stages[j].loopExec || sink != nil && readsScriptFromStdin(sink)
		if execSink {
			s.execSink(stages, j, ev)
		}
		if sink != nil && isNetworkSink(sink) && j > 0 {
			s.networkSink(stages, j, ev)
		}
		if sink != nil && sink.name == "crontab" && (sink.arg(1) == "-" || len(sink.rest()) == 0) && j > 0 {
			text, known := sink.pipeIn()
			c := *sink
			c.evidence = ev
			s.persistence(&c, writeInfo{CategoryPersistence, SeverityMedium, "the user's cron table", writeCron}, "crontab", text, known && text != "")
		}
	}
}

// execSink judges data piped into a shell or interpreter.
func (s *scan) execSink(stages []stage, j int, ev string) {
	sink := stages[j].c
	decoded, downloaded, reverse := false, false, false
	var host hostInfo
	for i := j - 1; i >= 0; i-- {
		calls := stages[i].group
		if stages[i].c != nil {
			calls = []*call{stages[i].c}
		}
		for _, p := range calls {
			if dl, h := s.isDownloader(p); dl && !downloaded {
				downloaded, host = true, h
			}
			if s.netClient(p) {
				reverse = true
			}
			if isDecodeCall(p) {
				decoded = true
			}
			if (p.name == "printf" || p.name == "echo") && i == 0 {
				if _, enc, ok := echoOutput(p); ok && enc {
					decoded = true
				}
			}
		}
	}
	for k := j + 1; k < len(stages); k++ {
		if c := stages[k].c; c != nil && s.netClient(c) {
			reverse = true
		}
	}
	if stages[j].loopExec {
		if reverse || downloaded {
			s.flag(CategoryReverseShell, SeverityCritical, ev, "executes commands received from the network line by line")
		}
		return
	}
	switch {
	case reverse:
		s.flag(CategoryReverseShell, SeverityCritical, ev, "connects a shell to a network connection")
	case downloaded:
		s.flag(CategoryDownloadExec, host.downloadExecSeverity(), ev, "pipes content downloaded from "+host.describe()+" into "+sink.name)
		s.obs.download, s.obs.downloadHost = true, host
	}
	if decoded {
		s.flag(CategoryObfuscation, SeverityHigh, ev, "decodes hidden data and pipes it into "+sink.name)
	}
	if text, known := sink.pipeIn(); known && !downloaded {
		if isShell(sink.name) {
			s.nested(text, "script piped into "+sink.name)
		} else {
			s.code(sink, sink.name, text, "code piped into "+sink.name)
		}
	}
}

// networkSink judges data piped into a network client.
func (s *scan) networkSink(stages []stage, j int, ev string) {
	sink := stages[j].c
	host := s.sinkHost(sink)
	sensitive := SeverityNone
	archive := false
	for i := 0; i < j; i++ {
		st := stages[i]
		for _, g := range s.f.flags[min(st.flagFrom, len(s.f.flags)):min(st.flagTo, len(s.f.flags))] {
			if g.Category == CategoryCredentialAccess && g.Severity > sensitive {
				sensitive = g.Severity
			}
		}
		if c := st.c; c != nil {
			switch c.name {
			case "tar", "zip", "7z", "cpio", "git", "pg_dump", "mysqldump", "mongodump":
				archive = true
			case "env", "printenv", "set":
				sensitive = max(sensitive, SeverityHigh)
			}
			if isShell(c.name) && sink.name != "ssh" {
				return // a shell's output sent back: the reverse shell rule covers it
			}
		}
	}
	if !host.untrusted() && host.class != hostNone {
		if sensitive >= SeverityMedium && host.class != hostLocal {
			s.flag(CategoryExfiltration, SeverityMedium, ev, "sends credentials to "+host.describe())
		}
		return
	}
	sev := host.exfilSeverity()
	if host.class == hostNone {
		sev = SeverityMedium
	}
	if archive && sev < SeverityHigh {
		sev++
	}
	if sensitive >= SeverityMedium {
		sev = max(sev+1, SeverityHigh)
		if host.class != hostUnknown {
			sev = SeverityCritical
		}
	}
	s.flag(CategoryExfiltration, min(sev, SeverityCritical), ev, "pipes data to "+host.describe())
}

// sinkHost returns the destination of a network client.
func (s *scan) sinkHost(c *call) hostInfo {
	switch c.name {
	case "curl", "wget":
		return s.firstURLHost(c)
	case "nc", "ncat", "netcat", "telnet", "cryptcat":
		for _, a := range c.rest() {
			if !strings.HasPrefix(a.s, "-") && looksLikeHost(a.s) {
				return s.d.classifyHost(a.s)
			}
		}
	case "socat":
		for _, a := range c.rest() {
			if h, ok := socatHost(a.s); ok {
				return s.d.classifyHost(h)
			}
		}
	case "openssl":
		for i, a := range c.rest() {
			if a.s == "-connect" && i+1 < len(c.rest()) {
				_, h, _ := splitURL(c.rest()[i+1].s)
				return s.d.classifyHost(h)
			}
		}
	case "ssh":
		if h := sshHost(c); h != "" {
			return s.d.classifyHost(h)
		}
	case "mail", "mailx", "mutt", "sendmail":
		for _, a := range c.rest() {
			if at := strings.LastIndexByte(a.s, '@'); at > 0 && !strings.HasPrefix(a.s, "-") {
				return s.d.classifyHost(a.s[at+1:])
			}
		}
	}
	return hostInfo{}
}

// socatHost extracts the host of a socat address like TCP:host:port.
func socatHost(a string) (string, bool) {
	u := strings.ToUpper(a)
	for _, p := range []string{"TCP:", "TCP4:", "TCP6:", "UDP:", "UDP4:", "UDP6:", "OPENSSL:", "SSL:", "TCP-CONNECT:", "TCP4-CONNECT:",
		"TCP6-CONNECT:", "UDP-CONNECT:", "UDP-SENDTO:", "OPENSSL-CONNECT:", "SCTP-CONNECT:", "SOCKS4:", "SOCKS4A:", "PROXY:"} {
		if strings.HasPrefix(u, p) {
			rest := a[len(p):]
			if i := strings.LastIndexByte(rest, ':'); i > 0 {
				rest = rest[:i]
			}
			if i := strings.IndexByte(rest, ','); i > 0 {
				rest = rest[:i]
			}
			return rest, true
		}
	}
	return "", false
}
