package anomaly

// This file holds the rules for raw network clients, remote copies, DNS
// tools, scanners, tunnels and package installs from URLs.

import (
	"strings"
)

// ncHostPorts returns the host and port arguments of an nc command.
func ncHostPorts(c *call) (host string, ports []string) {
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		if strings.HasPrefix(a, "-") {
			last := a[len(a)-1]
			if strings.HasPrefix(a, "--") {
				if !strings.Contains(a, "=") && (a == "--exec" || a == "--sh-exec" || a == "--lua-exec" || a == "--source-port" || a == "--wait" || a == "--proxy") {
					i++
				}
				continue
			}
			if strings.IndexByte("pswqixXeciIOPT", last) >= 0 {
				i++
			}
			continue
		}
		if host == "" && (looksLikeHost(a) || strings.Contains(a, "$")) && !isPortSpec(a) {
			host = a
			continue
		}
		ports = append(ports, a)
	}
	return host, ports
}

func isPortSpec(a string) bool {
	if a == "" {
		return false
	}
	for i := 0; i < len(a); i++ {
		if !(a[i] >= '0' && a[i] <= '9' || a[i] == '-' || a[i] == ',') {
			return false
		}
	}
	return true
}

func (s *scan) ruleNC(c *call) {
	s.obs.network = true
	ev := c.evidence
	listen := c.hasShort('l') || c.has("--listen")
	for i, a := range c.rest() {
		exec := a.s == "-e" || a.s == "-c" || a.s == "--exec" || a.s == "--sh-exec" || a.s == "--lua-exec" ||
			strings.HasPrefix(a.s, "--exec=") || strings.HasPrefix(a.s, "--sh-exec=") ||
			len(a.s) > 2 && a.s[0] == '-' && a.s[1] != '-' && (strings.HasSuffix(a.s, "e") || strings.HasSuffix(a.s, "c")) && i+1 < len(c.rest()) && isShellPath(c.rest()[i+1].s)
		if exec {
			if listen {
				s.flag(CategoryReverseShell, SeverityCritical, ev, "binds a shell to a listening port (bind shell)")
			} else {
				s.flag(CategoryReverseShell, SeverityCritical, ev, "hands a shell to a remote host with "+c.name+" -e")
			}
			return
		}
	}
	host, ports := ncHostPorts(c)
	info := s.d.classifyHost(host)
	if c.hasShort('z') {
		ranged := len(ports) > 1
		for _, p := range ports {
			if strings.ContainsAny(p, "-,") {
				ranged = true
			}
		}
		switch {
		case ranged && info.class == hostLocal:
			s.flag(CategoryNetworkScan, SeverityMedium, ev, "scans a range of local ports")
		case ranged:
			s.flag(CategoryNetworkScan, SeverityHigh, ev, "scans a range of ports on "+info.describe())
		case s.loop > 0 && (strings.Contains(host, "$") || len(ports) > 0 && strings.Contains(ports[0], "$")):
			s.flag(CategoryNetworkScan, SeverityHigh, ev, "probes ports in a loop")
		case c.xargs:
			s.flag(CategoryNetworkScan, SeverityHigh, ev, "probes a list of ports fed through xargs")
		}
		return
	}
	if listen {
		s.flag(CategoryReverseShell, SeverityLow, ev, "opens a listening socket")
		s.servesFile(c, stdinFile(c))
		return
	}
	if info.remote() && !c.piped && len(c.redirs) == 0 {
		s.flag(CategoryUntrustedHost, max(SeverityLow, info.exfilSeverity()-1), ev, "opens a raw connection to "+info.describe())
	}
}

func isShellPath(s string) bool {
	return isShell(cmdName(s)) || strings.Contains(s, "/bin/")
}

func (s *scan) ruleSocat(c *call) {
	s.obs.network = true
	ev := c.evidence
	var execAddr, fileAddr, netAddr, listenAddr bool
	var file string
	for _, a := range c.rest() {
		u := strings.ToUpper(a.s)
		switch {
		case strings.HasPrefix(u, "EXEC:") || strings.HasPrefix(u, "SYSTEM:"):
			execAddr = true
		case strings.HasPrefix(u, "TCP-LISTEN:") || strings.HasPrefix(u, "TCP4-LISTEN:") || strings.HasPrefix(u, "UDP-LISTEN:") || strings.HasPrefix(u, "OPENSSL-LISTEN:"):
			listenAddr = true
		case strings.HasPrefix(u, "FILE:") || strings.HasPrefix(u, "OPEN:") || strings.HasPrefix(u, "GOPEN:"):
			fileAddr = true
			file = a.s[strings.IndexByte(a.s, ':')+1:]
			if i := strings.IndexByte(file, ','); i >= 0 {
				file = file[:i]
			}
		default:
			if _, ok := socatHost(a.s); ok {
				netAddr = true
			}
		}
	}
	host := s.sinkHost(c)
	switch {
	case execAddr && (netAddr || listenAddr):
		s.flag(CategoryReverseShell, SeverityCritical, ev, "connects a program's input and output to the network with socat")
	case fileAddr && listenAddr && !netAddr:
		s.servesFile(c, file)
	case fileAddr && netAddr:
		s.upload(c, host, []string{file}, nil)
		if host.untrusted() {
			s.flag(CategoryExfiltration, SeverityHigh, ev, "sends a file over a raw socket to "+host.describe())
		}
	}
}

// sshHost returns the destination host of an ssh command.
func sshHost(c *call) string {
	dest, _ := sshDest(c)
	if dest == "" {
		return ""
	}
	if at := strings.LastIndexByte(dest, '@'); at >= 0 {
		dest = dest[at+1:]
	}
	_, h, _ := splitURL(dest)
	return h
}

// sshDest returns ssh's destination and the index of the remote command.
func sshDest(c *call) (string, int) {
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		if strings.HasPrefix(a, "-") {
			if len(a) == 2 && strings.IndexByte("bcDEeFIiJLlmOopQRSWw", a[1]) >= 0 {
				i++
			}
			continue
		}
		return a, i + 1
	}
	return "", -1
}

func (s *scan) ruleSSH(c *call) {
	s.obs.network = true
	s.ruleSSHPull(c)
	s.sshTunnels(c, s.d.classifyHost(sshHost(c)))
	args := c.rest()
	dest, cmdAt := sshDest(c)
	host := s.d.classifyHost(sshHost(c))
	for i, a := range args {
		if (a.s == "-R" || strings.HasPrefix(a.s, "-R")) && (a.s != "-R" || i+1 < len(args)) {
			switch {
			case host.class == hostShady:
				s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "exposes a local port to the internet through "+host.describe())
			case host.untrusted():
				s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "forwards a local port to "+host.describe())
			}
			break
		}
	}
	if dest != "" && cmdAt > 0 && cmdAt < len(args) {
		rest := args[cmdAt:]
		for len(rest) > 0 && strings.HasPrefix(rest[0].s, "-") {
			rest = rest[1:] // options after the destination
		}
		if len(rest) > 0 {
			s.nested(strings.Join(argStrings(rest), " "), "command run on "+host.host)
		}
	}
}

// remoteSpec splits [user@]host:path into host and path.
func remoteSpec(a string) (host string, ok bool) {
	if strings.HasPrefix(a, "-") || strings.HasPrefix(a, "/") || strings.HasPrefix(a, "./") || strings.HasPrefix(a, "~") {
		return "", false
	}
	if strings.HasPrefix(a, "rsync://") || strings.HasPrefix(a, "scp://") || strings.HasPrefix(a, "sftp://") {
		return hostPart(a), true
	}
	i := strings.IndexByte(a, ':')
	if i <= 0 {
		return "", false
	}
	h := a[:i]
	if at := strings.LastIndexByte(h, '@'); at >= 0 {
		h = h[at+1:]
	}
	return h, looksLikeHost(h) || strings.Contains(h, "-")
}

func (s *scan) ruleRemoteCopy(c *call) {
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	dst := args[len(args)-1].s
	h, remote := remoteSpec(dst)
	if !remote {
		return
	}
	host := s.d.classifyHost(h)
	var files []string
	broad := false
	for _, a := range args[:len(args)-1] {
		if _, r := remoteSpec(a.s); r {
			continue
		}
		files = append(files, a.s)
		n := normalizePath(a.s)
		if n == "~" || n == "." || n == "/" || strings.HasPrefix(n, "~/") && !strings.Contains(n[2:], "/") || n == ".." {
			broad = true
		}
	}
	s.upload(c, host, files, nil)
	if broad && host.untrusted() {
		s.flag(CategoryExfiltration, min(SeverityHigh, max(host.exfilSeverity()+1, SeverityMedium)), c.evidence, "copies a whole directory tree to "+host.describe())
	}
}

// dnsTargets returns the names a DNS or ICMP tool looks up.
func dnsTargets(c *call) []arg {
	var out []arg
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := args[i].s
		switch {
		case strings.HasPrefix(a, "-"):
			if len(a) == 2 && strings.IndexByte("cWiwtspIQlqfbkxy", a[1]) >= 0 && c.name != "dig" || c.name == "dig" && (a == "-p" || a == "-b" || a == "-k" || a == "-q" || a == "-t" || a == "-x" || a == "-y" || a == "-f") {
				i++
			}
		case strings.HasPrefix(a, "+") || strings.HasPrefix(a, "@"):
		case c.name == "dig" && (a == "A" || a == "AAAA" || a == "TXT" || a == "MX" || a == "NS" || a == "ANY" || a == "CNAME" || a == "SOA" || a == "PTR" || a == "SRV"):
		default:
			out = append(out, args[i])
		}
	}
	return out
}

func (s *scan) ruleDNS(c *call) {
	s.obs.network = true
	for _, t := range dnsTargets(c) {
		info := s.d.classifyHost(t.s)
		dyn := t.w != nil && (t.w.hasSubst && !t.w.substStatic || t.w.dynamic)
		switch {
		case dyn && s.loop > 0 && ipLikeWithVar(t.s):
			s.flag(CategoryNetworkScan, SeverityMedium, c.evidence, "sweeps addresses in a loop ("+c.name+")")
		case dyn && strings.Contains(t.s, "."):
			s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "encodes command output into a DNS name ("+c.name+")")
		case info.class == hostShady:
			s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "contacts "+info.describe())
		case strings.Contains(t.s, ".") && longEncodedRun(strings.ReplaceAll(t.s, ".", "")) >= 40 && longestLabel(t.s) >= 30:
			s.flag(CategoryExfiltration, SeverityMedium, c.evidence, "looks up a name with a long encoded label (DNS tunnelling)")
		}
	}
}

func longestLabel(h string) int {
	best := 0
	for _, l := range strings.Split(h, ".") {
		best = max(best, len(l))
	}
	return best
}

// scannerTools are network scanners and brute-forcers.
var scannerTools = map[string]Severity{
	"nmap": SeverityHigh, "masscan": SeverityHigh, "zmap": SeverityHigh, "rustscan": SeverityHigh, "unicornscan": SeverityHigh,
	"nikto": SeverityHigh, "gobuster": SeverityHigh, "dirb": SeverityHigh, "dirbuster": SeverityHigh, "ffuf": SeverityHigh,
	"wfuzz": SeverityHigh, "feroxbuster": SeverityHigh, "sqlmap": SeverityHigh, "hydra": SeverityHigh, "medusa": SeverityHigh,
	"ncrack": SeverityHigh, "nuclei": SeverityHigh, "wpscan": SeverityHigh, "arp-scan": SeverityHigh, "netdiscover": SeverityHigh,
	"hping3": SeverityHigh, "enum4linux": SeverityHigh, "smbmap": SeverityHigh, "crackmapexec": SeverityHigh, "nxc": SeverityHigh,
	"responder": SeverityHigh, "naabu": SeverityHigh, "zgrab": SeverityHigh, "zgrab2": SeverityHigh, "amass": SeverityMedium,
	"subfinder": SeverityMedium, "dnsenum": SeverityMedium, "fierce": SeverityMedium, "whatweb": SeverityMedium,
}

func (s *scan) ruleFping(c *call) {
	if c.hasShort('g') || c.has("--generate") {
		s.flag(CategoryNetworkScan, SeverityHigh, c.evidence, "sweeps a whole address range with fping")
	}
}

// tunnelTools expose a local service on a public address.
func (s *scan) ruleTunnel(c *call) {
	switch c.name {
	case "cloudflared":
		if !c.has("tunnel") && !c.has("access") {
			return
		}
	case "tailscale":
		if !c.has("funnel") {
			return
		}
	case "chisel", "frpc":
		if !c.has("client") && c.name == "chisel" {
			return
		}
	}
	s.flag(CategoryExfiltration, SeverityHigh, c.evidence, c.name+" exposes a local service to the internet")
}

// ruleInstall judges package installs from URLs and custom indexes.
func (s *scan) ruleInstall(c *call) {
	sub := c.arg(1)
	switch c.name {
	case "pip", "pip3", "pipx", "uv", "poetry", "easy_install":
		if c.name == "uv" && sub == "pip" {
			sub = c.arg(2)
		}
		if sub != "install" && c.name != "easy_install" && sub != "add" {
			return
		}
		s.setupScripts(c)
	case "npm", "yarn", "pnpm", "bun":
		if sub != "install" && sub != "i" && sub != "add" && sub != "global" {
			return
		}
	case "gem":
		if sub != "install" {
			return
		}
	case "cargo":
		if sub != "install" {
			return
		}
	case "go":
		if sub != "install" && sub != "get" {
			return
		}
	default:
		return
	}
	args := c.rest()
	for i, a := range args {
		v := a.s
		if (v == "-i" || v == "--index-url" || v == "--extra-index-url" || v == "--registry" || v == "--source" || v == "--git") && i+1 < len(args) {
			v = args[i+1].s
		} else if eq := strings.IndexByte(v, '='); strings.HasPrefix(v, "--") && eq > 0 {
			v = v[eq+1:]
		}
		raw := strings.TrimPrefix(strings.TrimPrefix(v, "git+"), "git://")
		if !strings.Contains(raw, "://") {
			continue
		}
		rep := s.d.inspectURL(raw)
		sev := SeverityNone
		switch rep.host.class {
		case hostRawIP, hostShady:
			sev = SeverityHigh
		case hostOutside:
			sev = SeverityMedium
		case hostUnknown:
			sev = SeverityLow
		}
		if sev > SeverityNone {
			s.flag(CategoryDownloadExec, sev, c.evidence, "installs a package (which runs its install scripts) from "+rep.host.describe())
		}
	}
}
