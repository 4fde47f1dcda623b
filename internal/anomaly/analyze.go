package anomaly

import (
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// analyzeCall applies every rule to one resolved call.
func (s *scan) analyzeCall(c *call) {
	if len(c.args) == 0 {
		s.callRedirects(c)
		return
	}
	if c.sudo {
		s.st.sudoSeen = true
	}
	if p := c.args[0].s; len(p) > 1 && p[0] == '!' {
		// "!sh" typed into a pager or editor that an earlier command
		// opened: the escape the write-ups show after "sudo less …"
		if first := cmdName(strings.Fields(p[1:] + " x")[0]); isShell(first) {
			sev := SeverityMedium
			if s.st.sudoSeen {
				sev = SeverityHigh
			}
			s.flag(CategoryPrivilegeEscalation, sev, c.evidence, "shell escape typed into an interactive program ("+p+")")
			return
		}
	}
	if c.sudo && !s.root {
		// what this call runs (bash -c, interpreter code, a pager, a
		// find -exec) runs as root too
		s.root = true
		defer func() { s.root = false }()
	}
	s.checkName(c)
	for _, a := range c.args {
		if a.w != nil && a.w.ifs {
			s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "uses $IFS instead of spaces to evade matching")
			break
		}
	}
	s.checkPaths(c)
	s.checkSecretPrint(c)
	s.callRedirects(c)
	s.commandRules(c)
	if c.stdout != "" {
		if content, ok := s.writeContent(c); ok && content != "" {
			if s.st.files == nil {
				s.st.files = make(map[string]string)
			}
			if len(s.st.files) < 16 {
				s.st.files[cleanPathArg(c.stdout)] = content
			}
		}
	}
	if strings.Contains(c.args[0].s, "/") {
		s.f.noteRan(s.absPath(c.args[0].s))
		if content, ok := s.st.files[cleanPathArg(c.args[0].s)]; ok {
			s.nested(content, "script written to "+c.args[0].s)
		}
	}
	switch p := c.args[0].s; {
	case hiddenFile(p):
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "runs a hidden program ("+p+")")
	case inTempDir(p) && !strings.HasPrefix(p, "/tmp/go-build"):
		s.flag(CategoryObfuscation, SeverityLow, c.evidence, "runs a program from a temporary directory ("+p+")")
	}
	if p := cleanPathArg(c.args[0].s); strings.Contains(c.args[0].s, "/") {
		if h, ok := s.st.downloads[p]; ok {
			s.flag(CategoryDownloadExec, h.downloadExecSeverity(), c.evidence, "runs a file just downloaded from "+h.describe())
		}
	}
}

// checkName looks at how the command name was written.
func (s *scan) checkName(c *call) {
	w := c.nameWord
	if w == nil {
		return
	}
	switch {
	case w.ansi:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command name spelled with escape sequences")
	case w.quoteSplit:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "quotes split the command name to evade matching")
	case w.escaped:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "backslashes inside the command name to evade matching")
	case w.slice:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command name built from substrings of variables")
	case w.hasSubst && w.substDecode:
		s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "command name decoded at run time")
	case w.hasSubst && substOnlyDir(c.args[0].s):
		s.flag(CategoryObfuscation, SeverityLow, c.evidence, "command path built from a command substitution")
	case w.hasSubst:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command name produced by a command substitution")
	case w.params >= 2:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command name assembled from several variables")
	case w.params == 1 && w.resolved == 1 && s.st.computed[w.param]:
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "command name taken from a variable set by a computed value")
	case w.params == 1 && w.dynamic:
		s.flag(CategoryObfuscation, SeverityLow, c.evidence, "command name taken from a variable")
		s.unresolvedRunner(c)
	case w.leadEscape:
		s.flag(CategoryObfuscation, SeverityLow, c.evidence, "leading backslash bypasses shell aliases")
	}
	if w.glob && strings.ContainsAny(c.args[0].s, "?*[") && c.args[0].s != "[" && c.args[0].s != "[[" {
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "glob pattern used as the command name")
		if name, ok := resolveGlobName(c.args[0].s); ok {
			c.name = name
		}
	}
}

// substOnlyDir reports whether a command substitution only supplies the
// directory of a program named literally: $(go env GOPATH)/bin/tool.
func substOnlyDir(name string) bool {
	i := strings.LastIndexByte(name, '/')
	if i < 0 || i == len(name)-1 {
		return false
	}
	base := name[i+1:]
	return !strings.ContainsAny(base, "$(…`") && strings.Contains(name[:i], "$(…)")
}

// unresolvedRunner analyses the code given to a program whose name we
// could not resolve ("$run" -e '…'): whatever the program is, the code
// is judged by what it can do.
func (s *scan) unresolvedRunner(c *call) {
	args := c.rest()
	for i, a := range args {
		switch a.s {
		case "-c", "-e", "-E", "-r", "--eval", "--command":
			if i+1 < len(args) {
				if w := args[i+1].w; w != nil {
					if w.substDecode {
						s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "runs decoded data through a program named in a variable")
					}
					if w.substDown {
						s.flag(CategoryDownloadExec, w.substHost.downloadExecSeverity(), c.evidence, "runs code downloaded from "+w.substHost.describe()+" through a program named in a variable")
					}
				}
				from := len(s.f.flags)
				s.code(c, "unknown", args[i+1].s, "code run by a program named in a variable")
				if s.f.max("", from) >= SeverityMedium {
					s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "hides the name of the program that runs this code in a variable")
				}
			}
			return
		}
	}
}

var globNameCandidates = []string{"cat", "sh", "bash", "nc", "ncat", "rm", "curl", "wget", "python", "python3", "perl", "base64", "chmod", "dd", "id", "whoami", "ls", "socat", "telnet"}

func resolveGlobName(pattern string) (string, bool) {
	dirs := []string{"/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/", "/usr/local/bin/"}
	for _, n := range globNameCandidates {
		if !strings.Contains(pattern, "/") {
			if ok, _ := path.Match(pattern, n); ok {
				return n, true
			}
			continue
		}
		for _, d := range dirs {
			if ok, _ := path.Match(pattern, d+n); ok {
				return n, true
			}
		}
	}
	return "", false
}

type pathRole int

const (
	roleUnknown pathRole = iota
	roleReader           // prints or copies file contents
	roleNeutral          // touches the file without revealing it
	roleSkip             // arguments are not files, or a dedicated rule handles them
)

func commandRole(name string) pathRole {
	switch name {
	case "cat", "tac", "nl", "less", "more", "most", "head", "tail", "strings", "xxd", "od", "hexdump", "hd",
		"base64", "base32", "basenc", "grep", "egrep", "fgrep", "rg", "ag", "ack", "awk", "gawk", "mawk", "nawk",
		"sed", "cut", "sort", "uniq", "paste", "column", "fold", "fmt", "pr", "jq", "yq", "tar", "zip", "7z", "7za",
		"rar", "gzip", "bzip2", "xz", "zstd", "cpio", "cp", "scp", "rsync", "sqlite3", "gpg", "vim", "vi", "view",
		"nvim", "nano", "emacs", "pico", "ed", "ex", "diff", "cmp", "comm", "iconv", "bat", "batcat", "zcat",
		"bzcat", "xzcat", "zless", "split", "dd", "install", "unzip", "funzip", "unrar", "bsdtar", "mail", "mailx", "mutt", "sendmail", "python", "python3",
		"perl", "ruby", "node", "php", "type":
		return roleReader
	case "ls", "ll", "stat", "file", "test", "[", "[[", "chmod", "chown", "chgrp", "touch", "mkdir", "ssh", "ssh-add",
		"ssh-keygen", "ssh-copy-id", "source", ".", "git", "du", "wc", "realpath", "readlink", "dirname", "basename",
		"cd", "pushd", "which", "whereis", "mv", "ln", "sha256sum", "sha1sum", "md5sum", "shasum", "cksum", "lsattr",
		"getfacl", "setfacl", "docker", "kubectl", "helm", "terraform", "ansible", "ansible-playbook", "openssl",
		"code", "open", "xdg-open", "trash", "unlink", "rmdir", "dirs", "sops", "age", "vault":
		return roleNeutral
	case "echo", "printf", "rm", "shred", "find", "curl", "wget", "http", "https", "nc", "ncat", "netcat", "socat",
		"truncate", "tee", "export", "unset", "set", "env", "printenv", "sudo", "crontab", "aws", "gcloud", "az", "gh",
		"eval", "bash", "sh", "zsh", "dash", "ksh", "exec", "xargs", "kill", "pkill", "history", "alias",
		"systemctl", "service", "journalctl", "dig", "nslookup", "host", "ping":
		return roleSkip
	}
	return roleUnknown
}

// outputFlags take a file argument that the command writes, not reads.
func isOutputFlag(a string) bool {
	switch a {
	case "-o", "-O", "--output", "-out", "-keyout", "--output-file", "-w", "--write", "--out", "-C":
		return true
	}
	return false
}

// checkPaths flags sensitive files among the arguments.
func (s *scan) checkPaths(c *call) {
	role := commandRole(c.name)
	if c.name == "git" && (c.arg(1) == "diff" && c.has("--no-index") || c.arg(1) == "hash-object" || c.arg(1) == "blame") {
		role = roleReader // prints files outside the repository
	}
	if c.name == "openssl" {
		switch c.arg(1) {
		case "rsa", "pkey", "ec", "dsa", "pkcs12", "pkcs8", "enc", "base64", "asn1parse":
			role = roleReader
		}
	}
	if role == roleSkip {
		return
	}
	args := c.rest()
	last := -1
	switch c.name {
	case "ln":
		return
	case "cp", "mv", "install", "scp", "rsync":
		for i := len(args) - 1; i >= 0; i-- {
			if !strings.HasPrefix(args[i].s, "-") {
				last = i
				break
			}
		}
		if last >= 0 {
			nonFlag := 0
			for _, a := range args {
				if !strings.HasPrefix(a.s, "-") {
					nonFlag++
				}
			}
			if nonFlag < 2 {
				last = -1
			}
		}
	case "dd":
		for _, a := range args {
			if v, ok := strings.CutPrefix(a.s, "if="); ok {
				s.readPath(c, v, roleReader, a.w)
			}
		}
		return
	}
	for i, a := range args {
		v := a.s
		if i == last {
			s.writeTo(c, v, true)
			continue
		}
		if i > 0 && isOutputFlag(args[i-1].s) && c.name != "grep" && c.name != "tar" {
			continue
		}
		if c.name == "tar" && i > 0 && args[i-1].s == "-C" {
			continue
		}
		if strings.HasPrefix(v, "-") {
			eq := strings.IndexByte(v, '=')
			if eq < 0 || strings.HasPrefix(v, "--output") || strings.HasPrefix(v, "--out") {
				continue
			}
			v = v[eq+1:]
		}
		if v == "" || len(v) > 4096 {
			continue
		}
		s.readPath(c, v, role, a.w)
	}
}

// readPath flags reading a sensitive file through c.
func (s *scan) readPath(c *call, p string, role pathRole, w *word) {
	info, ok := classifyRead(p)
	if !ok {
		return
	}
	sev := info.sev
	if s.inSubst > 0 {
		// captured, not displayed: where the output goes decides
		s.substRead = max(s.substRead, sev)
		if sev > SeverityLow {
			sev--
		}
	}
	switch role {
	case roleNeutral:
		sev = SeverityLow
	case roleUnknown:
		if sev > SeverityLow {
			sev--
		}
	}
	verb := "reads "
	if role != roleReader {
		verb = "uses "
	}
	s.flag(CategoryCredentialAccess, sev, c.evidence, verb+info.what+" ("+p+")")
	if w != nil && w.glob && strings.Contains(p, "?") && strings.HasPrefix(p, "/") && sev >= SeverityMedium {
		s.flag(CategoryObfuscation, SeverityMedium, c.evidence, "glob pattern spells out a sensitive path")
	}
}

// isDisplayFilter reports whether a pipeline stage passes its input on
// to the transcript (so a secret piped into it is revealed).
func isDisplayFilter(c *call) bool {
	if c == nil {
		return true
	}
	switch c.name {
	case "grep", "egrep", "fgrep", "rg", "sed", "awk", "head", "tail", "cut", "tr", "base64", "xxd", "od", "hexdump",
		"cat", "tee", "sort", "uniq", "less", "more", "rev", "fold", "column", "jq":
		return true
	}
	return false
}

// checkSecretPrint flags echo/printf/printenv of credential variables.
func (s *scan) checkSecretPrint(c *call) {
	var names []string
	switch c.name {
	case "echo", "printf":
		for _, a := range c.rest() {
			if a.w != nil {
				names = append(names, a.w.secretVars...)
				if a.w.substReads >= SeverityMedium {
					names = append(names, "(file read by a command substitution)")
				}
			}
		}
	case "printenv":
		for _, a := range c.rest() {
			if secretName(a.s) {
				names = append(names, a.s)
			}
		}
	default:
		return
	}
	if len(names) == 0 {
		return
	}
	switch {
	case c.stdout != "" && c.stdout != "/dev/stdout" && c.stdout != "/dev/stderr":
		s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, "writes credential variable "+names[0]+" to a file")
	case c.next != nil && !isDisplayFilter(c.next):
		// piped into a consumer (docker login --password-stdin …);
		// sending it over the network is judged by the pipeline rule
	default:
		s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "prints credential variable "+names[0])
	}
}

// emptyOutput reports whether c writes nothing (: > file truncates it).
func emptyOutput(c *call) bool {
	if c != nil && c.written != nil {
		return *c.written == ""
	}
	if c == nil || len(c.args) == 0 {
		return true
	}
	switch c.name {
	case ":", "true", "false":
		return true
	case "cat":
		return c.arg(1) == "/dev/null"
	case "echo":
		return len(c.rest()) == 0 || c.arg(1) == "-n" && len(c.rest()) == 1
	case "printf":
		return c.arg(1) == ""
	}
	return false
}

// callRedirects analyses the redirections of a call (c.args may be empty).
func (s *scan) callRedirects(c *call) {
	for _, rd := range c.redirs {
		s.redirect(c, rd, c.redirs)
	}
}

// stmtRedirects analyses the redirections of a compound statement.
func (s *scan) stmtRedirects(st *syntax.Stmt) {
	if len(st.Redirs) == 0 {
		return
	}
	if _, ok := st.Cmd.(*syntax.CallExpr); ok {
		return // handled with the call
	}
	rds := s.redirects(st)
	c := &call{st: st, evidence: s.text(st), redirs: rds}
	for _, rd := range rds {
		s.redirect(c, rd, rds)
	}
}

func (s *scan) redirect(c *call, rd redir, all []redir) {
	t := rd.target
	if strings.HasPrefix(t, "/dev/tcp/") || strings.HasPrefix(t, "/dev/udp/") {
		s.devTCP(c, rd, all)
		return
	}
	switch rd.op {
	case syntax.RdrOut, syntax.RdrClob, syntax.RdrAll, syntax.RdrAllClob:
		s.writeTo(c, t, false)
	case syntax.AppOut, syntax.AppAll, syntax.AppClob, syntax.AppAllClob:
		s.writeTo(c, t, true)
	case syntax.DplOut:
		if !isFD(t) {
			s.writeTo(c, t, false)
		}
	case syntax.RdrIn, syntax.RdrInOut:
		if info, ok := classifyRead(t); ok {
			if isNetworkSink(c) {
				s.flag(CategoryExfiltration, SeverityCritical, c.evidence, "sends "+info.what+" over the network")
				return
			}
			role := commandRole(c.name)
			if role == roleSkip {
				role = roleUnknown
			}
			s.readPath(c, t, role, &rd.w)
		}
	}
}

func isFD(t string) bool {
	if t == "-" {
		return true
	}
	for i := 0; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return t != ""
}

// devTCP judges a redirection to bash's /dev/tcp or /dev/udp sockets.
func (s *scan) devTCP(c *call, rd redir, all []redir) {
	parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(rd.target, "/dev/tcp/"), "/dev/udp/"), "/")
	host := s.d.classifyHost(parts[0])
	portDynamic := len(parts) < 2 || strings.Contains(parts[1], "$")
	dup := rd.op == syntax.RdrAll || rd.op == syntax.DplOut || rd.op == syntax.DplIn
	for _, o := range all {
		if o.op == syntax.DplOut || o.op == syntax.DplIn {
			dup = true
		}
	}
	shellish := c != nil && (isShell(c.name) || isInterpreter(c.name))
	interactive := c != nil && (c.has("-i") || c.hasShort('i'))
	switch {
	case c != nil && c.name == "exec" && (rd.op == syntax.RdrInOut || len(all) > 0 && rd.fd != "" && rd.fd != "0" && rd.fd != "1"):
		s.flag(CategoryReverseShell, SeverityCritical, c.evidence, "opens a socket to "+host.describe()+" on a file descriptor for a shell to use")
	case shellish && (dup || interactive):
		s.flag(CategoryReverseShell, SeverityCritical, c.evidence, "connects a shell's input and output to "+host.describe())
	case s.loop > 0 && (portDynamic || strings.Contains(parts[0], "$")):
		s.flag(CategoryNetworkScan, SeverityHigh, c.evidence, "probes ports in a loop through /dev/tcp")
	case host.class == hostLocal || host.class == hostPrivate && rd.op == syntax.RdrIn:
		s.flag(CategoryNetworkScan, SeverityLow, c.evidence, "probes a port on "+host.describe())
	case rd.op == syntax.RdrOut || rd.op == syntax.AppOut:
		sev := SeverityHigh
		if c != nil {
			for _, a := range c.rest() {
				if info, ok := classifyRead(a.s); ok && info.sev >= SeverityMedium {
					sev = SeverityCritical
				}
			}
		}
		s.flag(CategoryExfiltration, sev, c.evidence, "sends data over a raw socket to "+host.describe())
	default:
		s.flag(CategoryReverseShell, SeverityHigh, c.evidence, "opens a raw socket to "+host.describe())
	}
}
