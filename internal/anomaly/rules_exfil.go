package anomaly

// This file holds the rules for exfiltration channels other than HTTP
// clients: file-transfer clients (smbclient, tftp, ftp, sftp), raw
// socket clients fed from a file, data pulled from an unknown host over
// ssh, API proxies and file servers exposed on every interface, and
// tunnels.

import (
	"path"
	"strings"
)

// transferPuts returns the local files an ftp-like session script
// uploads (put, mput, send, append), and whether it uploads at all.
func transferPuts(script string) ([]string, bool) {
	var files []string
	found := false
	for _, line := range strings.FieldsFunc(script, func(r rune) bool { return r == '\n' || r == ';' }) {
		f := strings.Fields(strings.TrimSpace(line))
		for len(f) > 0 && (f[0] == "<" || f[0] == "echo" || f[0] == "printf" || f[0] == "-e" || f[0] == "-n") {
			f = f[1:] // a batch file written on the fly: <(echo 'put f')
		}
		if len(f) == 0 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "put", "mput", "send", "append", "reput", "putfile":
			found = true
			for _, x := range f[1:] {
				if x != "-" && !strings.HasPrefix(x, "-") {
					files = append(files, x)
					break
				}
			}
		}
	}
	return files, found
}

// transferGets returns the local files an ftp-like session script
// downloads (get, mget, recv).
func transferGets(script string) []string {
	var files []string
	for _, line := range strings.FieldsFunc(script, func(r rune) bool { return r == '\n' || r == ';' }) {
		f := strings.Fields(strings.TrimSpace(line))
		for len(f) > 0 && (f[0] == "<" || f[0] == "echo" || f[0] == "printf") {
			f = f[1:]
		}
		if len(f) < 2 {
			continue
		}
		switch strings.ToLower(f[0]) {
		case "get", "mget", "recv", "reget":
			local := f[1]
			if len(f) > 2 {
				local = f[2]
			}
			files = append(files, path.Base(local))
		}
	}
	return files
}

// ruleTransfer judges smbclient, tftp, ftp, lftp and sftp sessions that
// upload to a host outside the allowlist.
func (s *scan) ruleTransfer(c *call) {
	s.obs.network = true
	var hostName string
	var script strings.Builder
	args := c.rest()
	valueOpts := map[string]string{
		"tftp": " -r -l -m -b -R -c ", "atftp": " -r -l -b ", "ftp": " -P ", "smbclient": " -U -W -c -I -p -A -D -T -m -n -O ",
		"sftp": " -b -P -i -o -F -S -B -R -l -s -D -J ", "lftp": " -u -e -p -c -f ", "ncftpput": " -u -p -P ",
	}[c.name]
	getRemote, getLocal := "", ""
	for i, a := range args {
		v := a.s
		if c.name == "tftp" || c.name == "atftp" {
			switch {
			case (v == "-r" || v == "--remote-file") && i+1 < len(args):
				getRemote = args[i+1].s
			case (v == "-l" || v == "--local-file") && i+1 < len(args):
				getLocal = args[i+1].s
			}
		}
		if a.w != nil {
			script.WriteString(a.w.raw)
			for _, p := range a.w.procSubst {
				script.WriteString(strings.NewReplacer("'", " ", `"`, " ", "(", " ", ")", " ").Replace(p.text))
			}
			script.WriteByte('\n')
		}
		if i > 0 && strings.Contains(valueOpts, " "+args[i-1].s+" ") && args[i-1].s != "-c" && args[i-1].s != "-l" {
			continue // the value of an option
		}
		switch {
		case c.name == "smbclient" && strings.HasPrefix(v, "//"):
			hostName, _, _ = strings.Cut(v[2:], "/")
		case c.name == "smbclient" && strings.HasPrefix(v, `\\`):
			hostName, _, _ = strings.Cut(strings.TrimLeft(v, `\`), `\`)
		case (v == "-c" || v == "-e" || v == "--command") && i+1 < len(args):
			script.WriteString(args[i+1].s)
			script.WriteByte('\n')
		case c.name == "tftp" && (v == "-p" || v == "--put"):
			script.WriteString("put\n")
		case c.name == "tftp" && v == "-l" && i+1 < len(args):
			script.WriteString("put " + args[i+1].s + "\n")
		case c.name == "ftp" && v == "-u":
			script.WriteString("put\n")
		case c.name == "smbclient" && strings.HasPrefix(v, "-T") && strings.Contains(v, "c"):
			script.WriteString("put\n")
		case strings.HasPrefix(v, "-"):
		case hostName == "":
			h := v
			if at := strings.LastIndexByte(h, '@'); at >= 0 {
				h = h[at+1:]
			}
			if strings.Contains(h, "://") {
				_, h, _ = splitURL(h)
			}
			h, _, _ = strings.Cut(h, ":")
			if looksLikeHost(h) {
				hostName = h
			}
		}
	}
	if text, ok := c.pipeIn(); ok {
		script.WriteString(text)
	}
	host := s.d.classifyHost(hostName)
	gets := transferGets(script.String())
	if (c.has("-g") || c.has("--get")) && getRemote != "" {
		if getLocal == "" {
			getLocal = path.Base(getRemote)
		}
		gets = append(gets, getLocal)
	}
	if len(gets) > 0 && host.untrusted() {
		if s.st.downloads == nil {
			s.st.downloads = make(map[string]hostInfo)
		}
		for _, g := range gets {
			s.st.downloads[cleanPathArg(s.absPath(g))] = host
		}
		s.flag(CategoryUntrustedHost, max(SeverityMedium, host.exfilSeverity()-1), c.evidence, c.name+" downloads "+gets[0]+" from "+host.describe())
	}
	files, put := transferPuts(script.String())
	if !put && !(c.piped && c.name == "smbclient") {
		if host.untrusted() && host.class != hostUnknown {
			s.flag(CategoryUntrustedHost, SeverityLow, c.evidence, c.name+" connects to "+host.describe())
		}
		return
	}
	if !host.untrusted() {
		return
	}
	s.upload(c, host, files, nil)
	s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, c.name+" uploads files to "+host.describe())
}

// ruleStdinUpload judges a network client whose standard input is a file.
func (s *scan) ruleStdinUpload(c *call) {
	if !isNetworkSink(c) || c.name == "curl" || c.name == "wget" {
		return
	}
	for _, rd := range c.redirs {
		if rd.op.String() != "<" || rd.target == "/dev/null" || rd.target == "" || isFD(rd.target) {
			continue
		}
		host := s.sinkHost(c)
		if !host.untrusted() {
			return
		}
		s.upload(c, host, []string{rd.target}, nil)
		s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "sends the file "+rd.target+" to "+host.describe()+" with "+c.name)
		return
	}
}

// ruleSSHPull judges ssh printing an archive or dump from a host outside
// the allowlist into a local file.
func (s *scan) ruleSSHPull(c *call) {
	if c.stdout == "" {
		return
	}
	host := s.d.classifyHost(sshHost(c))
	if !host.untrusted() {
		return
	}
	_, at := sshDest(c)
	if at <= 0 || at >= len(c.args) {
		return
	}
	remote := strings.Join(argStrings(c.rest()[at:]), " ")
	for _, k := range []string{"tar ", "cat ", "dd ", "pg_dump", "mysqldump", "mongodump", "zip ", "gzip ", "base64 ", "sqlite3 "} {
		if strings.Contains(remote, k) {
			s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "copies data from "+host.describe()+" into "+c.stdout)
			return
		}
	}
}

// ruleFileServer judges ad-hoc HTTP servers that publish the file
// system root, a home directory or system files.
func (s *scan) ruleFileServer(c *call, dir string) {
	n := normalizePath(dir)
	info, sensitive := classifyRead(dir)
	if n == "/" || n == "~" || n == "/etc" || n == "/home" || n == "/root" || sensitive && info.sev >= SeverityMedium {
		s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "serves "+dir+" over HTTP")
	}
}

// httpServerDir returns the directory an ad-hoc file server publishes.
func httpServerDir(c *call) (string, bool) {
	args := c.rest()
	switch c.name {
	case "python", "python3", "python2":
		if c.arg(1) != "-m" || c.arg(2) != "http.server" && c.arg(2) != "SimpleHTTPServer" {
			return "", false
		}
		for i, a := range args {
			if (a.s == "--directory" || a.s == "-d") && i+1 < len(args) {
				return args[i+1].s, true
			}
			if v, ok := strings.CutPrefix(a.s, "--directory="); ok {
				return v, true
			}
		}
		return ".", true
	case "ruby":
		if !c.has("-run") || !c.has("httpd") {
			return "", false
		}
		for i, a := range args {
			if a.s == "httpd" {
				for _, b := range args[i+1:] {
					if !strings.HasPrefix(b.s, "-") && !isFD(b.s) {
						return b.s, true
					}
				}
			}
		}
		return ".", true
	case "php":
		for i, a := range args {
			if a.s == "-t" && i+1 < len(args) {
				return args[i+1].s, true
			}
		}
	case "busybox", "httpd":
		for i, a := range args {
			if a.s == "-h" && i+1 < len(args) {
				return args[i+1].s, true
			}
		}
	}
	return "", false
}

// ruleKubectlExpose judges kubectl proxy and port-forward listening on
// addresses other than loopback.
func (s *scan) ruleKubectlExpose(c *call) {
	if c.arg(1) != "proxy" && c.arg(1) != "port-forward" {
		return
	}
	args := c.rest()
	for i, a := range args {
		var addr string
		switch {
		case strings.HasPrefix(a.s, "--address="):
			addr = a.s[len("--address="):]
		case a.s == "--address" && i+1 < len(args):
			addr = args[i+1].s
		case strings.HasPrefix(a.s, "--accept-hosts=") && c.arg(1) == "proxy" && strings.Contains(a.s, ".*"):
			s.flag(CategoryExfiltration, SeverityMedium, c.evidence, "kubectl proxy accepts requests for any host name")
		}
		for _, h := range strings.Split(addr, ",") {
			if h != "" && h != "localhost" && h != "127.0.0.1" && h != "::1" {
				what := "the Kubernetes API"
				if c.arg(1) == "port-forward" {
					what = "a cluster service"
				}
				s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "exposes "+what+" on "+h+" to the network")
				return
			}
		}
	}
}

// ruleCodeTunnel judges editor and developer tunnels that give remote
// access to this machine.
func (s *scan) ruleCodeTunnel(c *call) {
	switch c.name {
	case "code", "code-insiders", "code-tunnel":
		if c.arg(1) != "tunnel" {
			return
		}
		switch c.arg(2) {
		case "status", "kill", "user", "prune", "unregister", "help", "--help":
			return
		}
	case "devtunnel":
		if c.arg(1) != "host" {
			return
		}
	}
	s.flag(CategoryExfiltration, SeverityHigh, c.evidence, c.name+" opens a remote-access tunnel to this machine")
}

// ruleRclone judges rclone copying local files to a remote.
func (s *scan) ruleRclone(c *call) {
	switch c.arg(1) {
	case "copy", "sync", "move", "copyto", "moveto", "rcat":
	default:
		return
	}
	args := nonFlagArgs(c)
	if len(args) < 3 {
		return
	}
	src, dst := args[1].s, args[len(args)-1].s
	if i := strings.IndexByte(dst, ':'); i <= 0 || strings.HasPrefix(dst, "/") {
		return
	}
	if i := strings.IndexByte(src, ':'); i > 0 && !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "~") {
		return // remote to somewhere
	}
	n := normalizePath(src)
	if info, ok := classifyRead(src); ok && info.sev >= SeverityMedium {
		s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "copies "+info.what+" to the remote "+dst)
		return
	}
	if n == "~" || n == "/" || strings.HasPrefix(n, "~/") && !strings.Contains(n[2:], "/") || n == "/home" || strings.HasPrefix(n, "/etc") {
		s.flag(CategoryExfiltration, SeverityMedium, c.evidence, "copies "+src+" to the remote "+dst)
	}
}
