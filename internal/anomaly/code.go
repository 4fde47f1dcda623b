package anomaly

import (
	"strings"
)

// Fragments of interpreter code (Python, Perl, Ruby, Node, PHP, Lua,
// awk), lowercased. The rules combine them: a socket plus process
// execution is a reverse shell, a fetch plus eval is download-and-execute,
// a decoder plus eval is obfuscation.
var (
	codeNet = []string{"socket.socket", "socket(", "tcpsocket", "fsockopen", "net.socket", "net.connect", "io::socket",
		"/inet/tcp/", "/inet/udp/", "socket.tcp", "create_connection", "createconnection", "stream_socket_client",
		"new socket", "tcpclient", "socket.connect", "require('socket')", "require 'socket'", "require \"socket\"", "use socket",
		"require(\"socket\")", "require(\"net\")", "require('net')", "require(\"dgram\")", "require('dgram')", "require(\"tls\")", "require('tls')",
		"from 'net'", "from \"net\"", "node:net", "java.net.socket", "using sockets", "deno.connect", "deno.listen", "bun.connect", "bun.listen",
		"stream_socket_server", "stream_socket_accept", "socketconnection", "[socket ", "net.dial", "net.listen", "tcpserver", "serversocket",
		"tcplistener", "tcpstream", "sockaddr_in", "socket.bind", "io::socket"}
	codeExec = []string{"subprocess", "os.system", "os.popen", "pty.spawn", "os.exec", "exec(", "exec ", "system(", "system ",
		"popen", "child_process", "spawn(", "execsync", "os.execute", "shell_exec", "passthru", "proc_open", "io.popen",
		"/bin/sh", "/bin/bash", "cmd.exe", "`", "system$", "qx(",
		"processbuilder", "getruntime().exec", "exec.command", "execl(", "execlp(", "execve(", "execvp(", "deno.command", "deno.run(",
		"bun.spawn", "spawnsync", "command::new", "process.start", "run(`", "read(`", "pipeline(`", "%x(", "%x{", "%x["}
	codeDup = []string{"dup2", ">&s", "open(stdin", ".pipe(", "<&3", ">&3", "<&%d", "|&", "fileno", "to_i", "fdopen", "pipeto(", "stdin=c", "stdin = c",
		"$stdin.reopen", "$stdout.reopen", "stdio:[s", "copyfromreader"}
	codeFetch = []string{"urlopen", "urllib", "requests.get", "http.get", "https.get", "lwp::simple", "get(\"http", "get('http",
		"file_get_contents(\"http", "file_get_contents('http", "open-uri", "uri.open", "net::http", "fetch(", "curl_exec",
		"http.request", "httpclient", "socket.http", "wget", "urlretrieve", "httpx.get"}
	codeEval = []string{"exec(", "eval(", "eval ", "system(", "os.system", "subprocess", "instance_eval", "new function",
		"vm.run", "child_process", "load(", "loadstring(", "compile("}
	codeDecode = []string{"b64decode", "base64", "decode('hex'", "fromhex", "zlib.decompress", "codecs.decode", "rot13",
		"rot_13", "pack(\"h*\"", "pack('h*'", "buffer.from(", "atob(", "fromcharcode", "marshal.loads", "unhexlify"}
	codeSetuid = []string{"setuid(0)", "setreuid(0", "setresuid(0", "posix.setuid(0)", "process.setuid(0)", "setgid(0)"}
	codePost   = []string{"requests.post", "requests.put", ".post(", "sendall", ".send(", "method: 'post'", "method:\"post\"",
		"method: \"post\"", "postfields", "data=", "fwrite($sock", "http.request(", "syswrite", ".write(s"}
	codeRemove = []string{"rmtree", "rmsync", "rm_rf", "remove_dir_all", "rimraf", "unlink(", "rmdir("}
	codeEnv    = []string{"os.environ", "getenv", "process.env", "env[", "%env", "$env{", "env.fetch"}
)

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// code analyses code an interpreter runs.
func (s *scan) code(c *call, lang, code, origin string) {
	if strings.TrimSpace(code) == "" {
		return
	}
	if len(code) > s.d.maxBytes {
		code = code[:s.d.maxBytes]
	}
	ev := c.evidence
	low := strings.ToLower(code)
	lits := stringLiterals(code, 48)
	net := containsAny(low, codeNet)
	execp := containsAny(low, codeExec)
	fetch := containsAny(low, codeFetch)
	evalp := containsAny(low, codeEval)

	// destinations named in the code
	worstHost := hostInfo{}
	for _, l := range lits {
		h := s.literalHost(l)
		if h.class > worstHost.class {
			worstHost = h
		}
	}

	switch {
	case net && (execp || containsAny(low, codeDup)):
		s.flag(CategoryReverseShell, SeverityCritical, ev, "connects a socket to a shell or process ("+origin+")")
	case lang == "awk" && (strings.Contains(low, "/inet/tcp/") || strings.Contains(low, "/inet/udp/")):
		s.flag(CategoryReverseShell, SeverityHigh, ev, "opens a network connection from awk")
	}
	if fetch && evalp {
		sev := SeverityHigh
		if worstHost.class != hostNone {
			sev = worstHost.downloadExecSeverity()
		}
		s.flag(CategoryDownloadExec, sev, ev, "fetches code over the network and executes it ("+origin+")")
	}
	if containsAny(low, codeDecode) && evalp {
		s.flag(CategoryObfuscation, SeverityHigh, ev, "decodes hidden code and executes it ("+origin+")")
	}
	if containsAny(low, codeSetuid) {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, ev, "switches to user ID 0 ("+origin+")")
	}
	if strings.Contains(low, "fork while fork") || strings.Contains(low, "while(1)fork") || strings.Contains(low, "while 1: os.fork") || strings.Contains(low, "while true: os.fork") {
		s.flag(CategoryDestructive, SeverityHigh, ev, "fork bomb ("+origin+")")
	}

	// files the code writes, downloads to, and native libraries it loads
	for _, w := range codeWriteTargets(lang, code) {
		if fetch {
			if s.st.downloads == nil {
				s.st.downloads = make(map[string]hostInfo)
			}
			s.st.downloads[cleanPathArg(w.path)] = worstHost
			if worstHost.untrusted() {
				s.flag(CategoryUntrustedHost, max(SeverityMedium, worstHost.exfilSeverity()-1), ev, "downloads a file from "+worstHost.describe()+" ("+origin+")")
			}
		}
		if strings.HasPrefix(w.path, "/") || strings.HasPrefix(w.path, "~") {
			s.writeTo(c, w.path, w.append)
		}
	}
	if lib, ok := codeLibraryLoad(low, lits); ok {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, ev, "loads the native library "+lib+" from a temporary or hidden path ("+origin+")")
	}

	env := containsAny(low, codeEnv)
	sensitive := SeverityNone
	remove := containsAny(low, codeRemove)
	for _, l := range lits {
		if len(l) < 2 {
			continue
		}
		if strings.ContainsAny(l, "/~.") && len(l) < 512 {
			if info, ok := classifyRead(l); ok && info.sev > SeverityLow {
				s.flag(CategoryCredentialAccess, info.sev, ev, "reads "+info.what+" ("+l+") in "+origin)
				sensitive = max(sensitive, info.sev)
			}
			if remove {
				if sev, what := removalTarget(l, true); sev >= SeverityHigh {
					s.flag(CategoryDestructive, sev, ev, "deletes "+what+" ("+origin+")")
				}
			}
		}
		if env && secretName(l) && !strings.ContainsAny(l, " /") {
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "reads credential variable "+l+" ("+origin+")")
			sensitive = max(sensitive, SeverityHigh)
		}
	}
	if env && dumpsEnvironment(low) {
		s.flag(CategoryCredentialAccess, SeverityMedium, ev, "prints the whole environment, which holds secrets ("+origin+")")
		sensitive = max(sensitive, SeverityMedium)
	}
	if containsAny(low, codePost) && (worstHost.untrusted() || worstHost.class == hostNone && net) && !(net && execp) {
		sev := max(worstHost.exfilSeverity(), SeverityMedium)
		if sensitive >= SeverityMedium {
			sev = SeverityCritical
		}
		if worstHost.class != hostNone || sensitive >= SeverityMedium {
			s.flag(CategoryExfiltration, sev, ev, "sends data to "+worstHost.describe()+" ("+origin+")")
		}
	}

	// code hidden in encoded literals, and shell commands the code runs
	for _, l := range lits {
		if len(l) >= 12 && isBase64ish(l) {
			if dec, ok := decodeBase64(l); ok {
				s.codeNested(c, lang, dec, "decoded base64 in "+origin)
				continue
			}
		}
		if len(l) >= 8 && len(l)%2 == 0 && strings.Trim(strings.ToLower(l), "0123456789abcdef") == "" {
			if dec, ok := decodeHex(l); ok {
				s.codeNested(c, lang, dec, "decoded hex in "+origin)
				continue
			}
		}
	}
	if execp {
		saved := s.escape
		s.escape = lang + " code"
		for _, l := range lits {
			if strings.ContainsAny(l, " /|;&><$") && len(l) >= 3 {
				s.nested(unescapeQuoted(l), "shell command in "+origin)
			}
		}
		s.escape = saved
	}
}

// codeNested analyses decoded code as the same language and as shell.
func (s *scan) codeNested(c *call, lang, code, origin string) {
	if s.depth+1 > s.d.maxDepth || s.st.nested >= maxNested {
		s.flag(CategoryObfuscation, SeverityMedium, code, "code nested too deeply to analyse ("+origin+")")
		return
	}
	s.st.nested++
	n := &scan{d: s.d, f: s.f, st: s.st, depth: s.depth + 1, origin: origin, src: code, loop: s.loop, root: s.root, escape: s.escape}
	n.code(c, lang, code, origin)
	if !strings.ContainsAny(code, "(){}") {
		n.run(code)
	}
}

// literalHost classifies a URL, host or IP named in a string literal.
func (s *scan) literalHost(l string) hostInfo {
	if len(l) > 2048 {
		return hostInfo{}
	}
	if i := strings.Index(l, "://"); i > 0 {
		return s.d.inspectURL(l[max(0, strings.LastIndexAny(l[:i], " \t\"'(")+1):]).host
	}
	if _, _, ok := parseIPHost(l); ok && strings.Count(l, ".") == 3 {
		return s.d.classifyHost(l)
	}
	return hostInfo{}
}

// dumpsEnvironment reports whether code prints the whole environment
// rather than one variable.
func dumpsEnvironment(low string) bool {
	for _, k := range []string{"os.environ", "process.env"} {
		for i := 0; ; {
			j := strings.Index(low[i:], k)
			if j < 0 {
				break
			}
			after := low[i+j+len(k):]
			if after == "" || !(after[0] == '.' || after[0] == '[') || strings.HasPrefix(after, ".items") || strings.HasPrefix(after, ".copy") ||
				strings.HasPrefix(after, ".keys") || strings.HasPrefix(after, ".values") {
				return true
			}
			i += j + len(k)
		}
	}
	return strings.Contains(low, "env.to_h") || strings.Contains(low, "env.inspect") || strings.Contains(low, "%env") && strings.Contains(low, "print")
}

func isBase64ish(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// stringLiterals returns up to n quoted strings ('…', "…", `…`) of code,
// with escapes kept as written.
func stringLiterals(code string, n int) []string {
	var out []string
	for i := 0; i < len(code) && len(out) < n; i++ {
		q := code[i]
		if q != '"' && q != '\'' && q != '`' {
			continue
		}
		j := i + 1
		for j < len(code) && code[j] != q {
			if code[j] == '\\' {
				j++
			}
			j++
		}
		if j > len(code) {
			j = len(code)
		}
		out = append(out, code[i+1:j])
		i = j
	}
	return out
}

// unescapeQuoted undoes backslash escapes of a quoted literal.
func unescapeQuoted(l string) string {
	if !strings.Contains(l, `\`) {
		return l
	}
	out, _ := unescapeC(l)
	return out
}
