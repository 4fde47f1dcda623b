package anomaly

import (
	"path"
	"strings"
)

// commandRules dispatches to the rules for c's command.
func (s *scan) commandRules(c *call) {
	if c.sudo {
		s.flag(CategoryPrivilegeEscalation, SeverityLow, c.evidence, "runs as root through sudo")
		if !isShell(c.name) {
			for _, a := range c.rest() {
				if strings.Contains(a.s, ":!") || strings.HasPrefix(a.s, "!") && len(a.s) > 1 || isShell(cmdName(a.s)) && strings.HasPrefix(a.s, "/") {
					s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "escapes from "+c.name+" to a root shell")
					break
				}
			}
		}
	}
	if t := attackToolIn(c.name); t != "" {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "runs the attack tool "+t)
	}
	if isDecodeCall(c) {
		s.obs.decode = true
	}
	if sev, ok := scannerTools[c.name]; ok {
		s.flag(CategoryNetworkScan, sev, c.evidence, c.name+" scans or attacks network services")
		return
	}
	if strings.HasPrefix(c.name, "mkfs") {
		s.ruleDisk(c)
		return
	}
	switch c.name {
	case "rm", "unlink", "rmdir":
		s.ruleRm(c)
	case "shred", "wipe", "srm":
		s.ruleShred(c)
	case "find":
		s.ruleFind(c)
	case "dd":
		s.ruleDD(c)
	case "mke2fs", "mkswap", "wipefs", "fdisk", "sfdisk", "parted", "sgdisk", "blkdiscard", "cfdisk", "gdisk", "zpool", "lvremove", "vgremove":
		s.ruleDisk(c)
	case "chmod":
		s.ruleChmod(c)
	case "chown", "chgrp":
		s.ruleChown(c)
	case "mv":
		s.ruleMv(c)
	case "truncate":
		s.ruleTruncate(c)
	case "ln":
		s.ruleLn(c)
	case "tee":
		s.ruleTee(c)
	case "cd", "pushd":
		s.ruleCd(c)
	case "sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "csh", "tcsh", "rbash", "yash":
		s.ruleShell(c)
	case "eval":
		s.ruleEval(c)
	case "source", ".":
		s.ruleSource(c)
	case "python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node", "nodejs", "bun", "php", "lua", "luajit", "Rscript", "osascript", "tclsh":
		s.ruleInterpreter(c)
	case "awk", "gawk", "mawk", "nawk":
		s.ruleAwk(c)
	case "grep", "egrep", "fgrep", "rg", "ag", "ack", "git-grep":
		s.ruleGrep(c)
	case "curl":
		s.ruleCurl(c)
	case "wget":
		s.ruleWget(c)
	case "fetch", "http", "https", "httpie", "xh", "aria2c", "lwp-request", "lwp-download", "GET", "POST":
		s.ruleURLs(c)
	case "nc", "ncat", "netcat", "cryptcat", "pwncat":
		s.ruleNC(c)
	case "socat":
		s.ruleSocat(c)
	case "telnet":
		s.obs.network = true
	case "openssl":
		if c.arg(1) == "s_client" {
			s.obs.network = true
		}
	case "ssh":
		s.ruleSSH(c)
	case "scp", "rsync", "sftp", "rclone":
		s.ruleRemoteCopy(c)
	case "dig", "nslookup", "host", "ping", "ping6", "drill", "traceroute", "tracepath", "mtr", "getent":
		s.ruleDNS(c)
	case "fping":
		s.ruleFping(c)
	case "ngrok", "cloudflared", "lt", "localtunnel", "bore", "frpc", "chisel", "pagekite", "pagekite.py", "zrok", "tailscale", "tunnelto", "localxpose", "loclx":
		s.ruleTunnel(c)
	case "pip", "pip3", "pipx", "uv", "poetry", "easy_install", "npm", "yarn", "pnpm", "bun-install", "gem", "cargo", "go":
		s.ruleInstall(c)
	case "mail", "mailx", "mutt", "sendmail":
		if h := s.sinkHost(c); h.untrusted() && h.class != hostUnknown {
			s.flag(CategoryExfiltration, SeverityLow, c.evidence, "sends mail to "+h.describe())
		}
	case "xterm":
		for i, a := range c.rest() {
			if a.s == "-display" && i+1 < len(c.rest()) {
				h, _, _ := strings.Cut(c.rest()[i+1].s, ":")
				if info := s.d.classifyHost(h); info.remote() {
					s.flag(CategoryReverseShell, SeverityHigh, c.evidence, "opens a terminal on the remote display of "+info.describe())
				}
			}
		}
	case "ztcp":
		if h := c.arg(1); h != "" && !strings.HasPrefix(h, "-") {
			if info := s.d.classifyHost(h); info.remote() {
				s.flag(CategoryReverseShell, SeverityHigh, c.evidence, "opens a raw TCP connection from zsh to "+info.describe())
			}
		}
	case "sudo", "doas":
		s.ruleSudoBare(c)
	case "su", "runuser", "sg":
		s.ruleSu(c)
	case "pkexec":
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a root shell with pkexec")
	case "setcap":
		s.ruleSetcap(c)
	case "usermod", "useradd", "adduser", "gpasswd", "groupmod", "addgroup":
		s.ruleUsermod(c)
	case "passwd", "chpasswd", "visudo":
		s.rulePasswd(c)
	case "nsenter":
		s.ruleNsenter(c)
	case "chroot":
		s.ruleChroot(c)
	case "docker", "podman", "nerdctl":
		s.ruleDocker(c)
		if (c.arg(1) == "volume" && (c.arg(2) == "rm" || c.arg(2) == "prune")) || c.arg(1) == "system" && c.arg(2) == "prune" && c.has("--volumes") {
			for _, a := range c.rest() {
				if a.w != nil && a.w.hasSubst || a.s == "-a" || a.s == "--all" || c.arg(1) == "system" {
					s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes all container volumes and their data")
					break
				}
			}
		}
	case "kubectl", "oc":
		s.ruleKubectl(c)
	case "terraform", "tofu":
		if c.arg(1) == "destroy" || c.arg(1) == "apply" && c.has("-destroy") {
			sev := SeverityMedium
			if c.has("-auto-approve") || c.has("--auto-approve") {
				sev = SeverityHigh
			}
			s.flag(CategoryDestructive, sev, c.evidence, "destroys infrastructure with "+c.name)
		}
	case "aws":
		s.ruleAWS(c)
	case "gcloud":
		s.ruleGcloud(c)
	case "az":
		if c.arg(1) == "account" && c.arg(2) == "get-access-token" {
			s.printsSecret(c, SeverityHigh, "prints an Azure access token")
		}
		if c.arg(1) == "group" && c.arg(2) == "delete" {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes an Azure resource group")
		}
	case "gh":
		if c.arg(1) == "gist" && c.arg(2) == "create" {
			public := c.has("--public") || c.has("-p")
			for _, a := range nonFlagArgs(c)[2:] {
				if info, ok := classifyRead(a.s); ok && info.sev >= SeverityMedium {
					s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "publishes "+info.what+" as a gist")
				} else if public && a.s != "-" {
					s.flag(CategoryExfiltration, SeverityLow, c.evidence, "publishes "+a.s+" as a public gist")
				}
			}
		}
		if c.arg(1) == "auth" && (c.arg(2) == "token" || c.arg(2) == "status" && (c.has("-t") || c.has("--show-token"))) {
			s.printsSecret(c, SeverityHigh, "prints the GitHub CLI token")
		}
	case "git":
		s.ruleGit(c)
	case "psql", "mysql", "mariadb", "sqlite3", "mongo", "mongosh", "redis-cli", "clickhouse-client", "cqlsh", "sqlcmd":
		s.ruleDB(c)
	case "dropdb":
		if db := nonFlagArgs(c); len(db) > 0 && !strings.Contains(strings.ToLower(db[len(db)-1].s), "test") {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "drops the database "+db[len(db)-1].s)
		}
	case "deno", "npx", "bunx", "pnpx":
		for _, a := range c.rest() {
			if strings.Contains(a.s, "://") {
				rep := s.d.inspectURL(a.s)
				if rep.host.class != hostAllowed && rep.host.class != hostLocal {
					s.flag(CategoryDownloadExec, rep.host.downloadExecSeverity(), c.evidence, c.name+" runs code straight from "+rep.host.describe())
				}
				break
			}
		}
	case "vault":
		if (c.arg(1) == "kv" && c.arg(2) == "get") || c.arg(1) == "read" {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "reads a secret from Vault")
		}
	case "install":
		args := c.rest()
		for i, a := range args {
			if (a.s == "-m" || a.s == "--mode") && i+1 < len(args) && setuidMode(args[i+1].s) {
				s.flag(CategoryPrivilegeEscalation, SeverityCritical, c.evidence, "installs a program with the setuid/setgid bit")
			}
		}
	case "kill", "pkill", "killall", "killall5":
		s.ruleKill(c)
	case "shutdown", "reboot", "halt", "poweroff":
		s.flag(CategoryDestructive, SeverityHigh, c.evidence, c.name+" takes the machine down")
	case "init", "telinit":
		if c.arg(1) == "0" || c.arg(1) == "6" {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "changes run level to halt or reboot")
		}
	case "systemctl", "service":
		s.ruleSystemctl(c)
	case "crontab":
		s.ruleCrontab(c)
	case "trap":
		if len(c.rest()) >= 2 {
			s.nested(c.arg(1), "trap handler")
		}
	case "history":
		if c.has("-c") || c.has("-cw") || c.has("-d") || c.has("-w") && c.has("/dev/null") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "erases shell history")
		}
	case "unset":
		for _, a := range c.rest() {
			if a.s == "HISTFILE" || a.s == "HISTSIZE" {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "disables shell history")
			}
		}
	case "set":
		if c.has("+o") && c.has("history") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "disables shell history")
		}
		if len(c.rest()) == 0 {
			s.envDump(c)
		}
	case "env", "printenv", "compgen":
		if c.name == "compgen" && !c.has("-v") && !c.has("-e") {
			return
		}
		if c.name == "printenv" && len(c.rest()) > 0 {
			return
		}
		s.envDump(c)
	case "export", "declare", "typeset":
		if c.has("-p") || c.name != "export" && c.has("-x") && len(c.rest()) == 1 {
			s.envDump(c)
		}
	case "journalctl":
		for _, a := range c.rest() {
			if strings.HasPrefix(a.s, "--vacuum") {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "deletes system journal entries")
				break
			}
		}
	case "setenforce":
		if c.arg(1) == "0" || strings.EqualFold(c.arg(1), "permissive") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "disables SELinux enforcement")
		}
	case "ufw":
		if c.arg(1) == "disable" || c.arg(1) == "reset" {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "disables the firewall")
		}
	case "iptables", "ip6tables", "nft":
		if c.has("-F") || c.has("--flush") || c.has("-X") || c.has("flush") || c.has("-P") && c.has("ACCEPT") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "flushes or opens the firewall rules")
		}
	case "auditctl":
		if c.has("-D") || c.has("-e") && c.has("0") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "disables or clears audit rules")
		}
	case "security":
		switch c.arg(1) {
		case "find-generic-password", "find-internet-password":
			if c.hasShort('w') || c.hasShort('g') {
				s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "reads a password from the macOS keychain")
			}
		case "dump-keychain", "export":
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "dumps the macOS keychain")
		}
	case "gpg", "gpg2":
		if c.has("--export-secret-keys") || c.has("--export-secret-subkeys") {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "exports secret GPG keys")
		}
	}
}

func (s *scan) ruleCd(c *call) {
	dir := c.arg(1)
	if dir == "" || dir == "-" || strings.Contains(dir, "$") {
		s.st.cwd = ""
		return
	}
	s.st.cwd = normalizePath(s.absPath(dir))
}

// absPath resolves a relative path against a cd seen earlier.
func (s *scan) absPath(p string) string {
	if s.st.cwd == "" || p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") || strings.HasPrefix(p, "$") {
		return p
	}
	if !strings.HasPrefix(s.st.cwd, "/") {
		return p
	}
	return path.Join(s.st.cwd, p)
}

func (s *scan) ruleShell(c *call) {
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
	}
}

// scriptFile judges a script a shell or interpreter runs.
func (s *scan) scriptFile(c *call, a arg) {
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
		case "perl", "ruby", "lua", "luajit", "Rscript", "osascript":
			if (a.s == "-e" || a.s == "-E" || len(a.s) > 2 && a.s[0] == '-' && a.s[1] != '-' && strings.HasSuffix(a.s, "e") || strings.HasSuffix(a.s, "E") && a.s[0] == '-') && i+1 < len(args) {
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
	if code, ok := inlineCode(c); ok {
		if w := code.w; w != nil && w.substDown {
			s.flag(CategoryDownloadExec, w.substHost.downloadExecSeverity(), c.evidence, "runs code downloaded from "+w.substHost.describe())
		}
		text := code.s
		if c.name == "ruby" && (c.has("-rsocket") || c.has("-rsocket.rb")) {
			text = "require 'socket';" + text
		}
		s.code(c, c.name, text, c.name+" code")
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

func (s *scan) ruleSudoBare(c *call) {
	switch {
	case c.has("-i") || c.has("-s") || c.has("--login") || c.has("--shell") || c.hasShort('i') || c.hasShort('s'):
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a root shell with "+c.name)
	case c.has("-l") || c.has("--list") || c.has("-ll"):
		s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "lists sudo rights (privilege escalation reconnaissance)")
	}
}

func (s *scan) ruleSu(c *call) {
	args := c.rest()
	user := ""
	for i := 0; i < len(args); i++ {
		a := args[i].s
		switch {
		case a == "-c" || a == "--command" || a == "-C":
			if i+1 < len(args) {
				s.nested(args[i+1].s, c.name+" -c")
				i++
			}
		case a == "-s" || a == "--shell" || a == "-g" || a == "-G" || a == "-u" || a == "--user":
			if (a == "-u" || a == "--user") && i+1 < len(args) {
				user = args[i+1].s
			}
			i++
		case strings.HasPrefix(a, "-"):
		case user == "":
			user = a
		}
	}
	if c.name == "sg" {
		return
	}
	if user == "" || user == "root" || user == "0" {
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "switches to the root user")
	} else {
		s.flag(CategoryPrivilegeEscalation, SeverityLow, c.evidence, "switches to user "+user)
	}
}

func (s *scan) ruleSetcap(c *call) {
	for _, a := range c.rest() {
		l := strings.ToLower(a.s)
		if strings.Contains(l, "cap_setuid") || strings.Contains(l, "cap_setgid") || strings.Contains(l, "cap_sys_admin") ||
			strings.Contains(l, "cap_dac_override") || strings.Contains(l, "cap_dac_read_search") || strings.Contains(l, "cap_sys_ptrace") ||
			strings.Contains(l, "cap_sys_module") || strings.Contains(l, "cap_chown") || strings.Contains(l, "cap_fowner") || l == "=ep" || l == "all+ep" {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "grants a program root-equivalent capabilities")
			return
		}
	}
}

var privilegedGroups = map[string]bool{"sudo": true, "wheel": true, "admin": true, "root": true, "docker": true, "lxd": true, "disk": true, "adm": true, "shadow": true, "libvirt": true}

func (s *scan) ruleUsermod(c *call) {
	args := c.rest()
	for i, a := range args {
		next := ""
		if i+1 < len(args) {
			next = args[i+1].s
		}
		switch {
		case (a.s == "-u" || a.s == "--uid") && next == "0", a.s == "-o" || a.s == "--non-unique":
			s.flag(CategoryPrivilegeEscalation, SeverityCritical, c.evidence, "creates a second account with user ID 0 (root)")
			return
		case a.s == "-G" || a.s == "-aG" || a.s == "--groups" || a.s == "-g" || a.s == "--gid" || c.name == "gpasswd" && a.s == "-a" || c.name == "adduser" || c.name == "addgroup":
			for _, g := range strings.Split(next, ",") {
				if privilegedGroups[g] {
					s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "adds a user to the privileged group "+g)
					return
				}
			}
			if c.name == "adduser" || c.name == "addgroup" || c.name == "gpasswd" {
				for _, x := range args {
					if privilegedGroups[x.s] {
						s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "adds a user to the privileged group "+x.s)
						return
					}
				}
			}
		}
	}
	if c.name == "useradd" || c.name == "adduser" {
		s.flag(CategoryPersistence, SeverityLow, c.evidence, "creates a user account")
	}
}

func (s *scan) rulePasswd(c *call) {
	switch c.name {
	case "passwd":
		if c.arg(1) == "root" || c.has("-d") && c.has("root") {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "changes the root password")
		}
	case "chpasswd":
		s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "sets account passwords in bulk")
	case "visudo":
		sev := SeverityMedium
		if text, ok := c.pipeIn(); ok && (strings.Contains(text, "NOPASSWD") || strings.Contains(text, "ALL")) {
			sev = SeverityCritical
		} else if ok || len(c.env) > 0 {
			sev = SeverityHigh
		}
		s.flag(CategoryPrivilegeEscalation, sev, c.evidence, "edits sudo rules")
	}
}

func (s *scan) ruleNsenter(c *call) {
	args := c.rest()
	for i, a := range args {
		if (a.s == "-t" || a.s == "--target") && i+1 < len(args) && args[i+1].s == "1" || a.s == "--target=1" || a.s == "-t1" {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "enters the namespaces of the host's init process (container escape)")
			return
		}
	}
	s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "enters another process's namespaces")
}

func (s *scan) ruleChroot(c *call) {
	args := nonFlagArgs(c)
	if len(args) == 0 {
		return
	}
	s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "changes the root directory to "+args[0].s)
	if len(args) > 1 {
		s.analyzeCall(s.synthCall(c, argStrings(args[1:])))
	}
}

// dockerValueOpts are docker run/create/exec options that take a value.
var dockerValueOpts = map[string]bool{
	"-v": true, "--volume": true, "-e": true, "--env": true, "-p": true, "--publish": true, "--name": true, "-w": true,
	"--workdir": true, "--network": true, "--net": true, "--pid": true, "-u": true, "--user": true, "--entrypoint": true,
	"--mount": true, "--cap-add": true, "--cap-drop": true, "--device": true, "-h": true, "--hostname": true, "--env-file": true,
	"-l": true, "--label": true, "--platform": true, "--memory": true, "-m": true, "--cpus": true, "--ipc": true, "--uts": true,
	"--security-opt": true, "--restart": true, "--add-host": true, "--dns": true, "--tmpfs": true, "--ulimit": true,
	"--shm-size": true, "--log-driver": true, "--log-opt": true, "--gpus": true, "--runtime": true, "--userns": true,
	"--cgroupns": true, "--expose": true, "--link": true, "--volumes-from": true, "-a": true, "--attach": true, "--stop-signal": true,
	"--health-cmd": true, "--pull": true, "--cidfile": true, "--group-add": true,
}

var sensitiveMounts = map[string]bool{"/": true, "/etc": true, "/root": true, "/home": true, "/var/run/docker.sock": true, "/run/docker.sock": true,
	"/proc": true, "/sys": true, "/dev": true, "/boot": true, "/var/lib/docker": true, "/usr": true, "/var": true, "/lib": true, "/bin": true, "/sbin": true}

func (s *scan) ruleDocker(c *call) {
	sub := c.arg(1)
	if sub == "container" {
		sub = c.arg(2)
	}
	if sub != "run" && sub != "create" && sub != "exec" {
		return
	}
	args := c.rest()[1:]
	if c.arg(1) == "container" && len(args) > 0 {
		args = args[1:]
	}
	type mount struct{ host, ctr string }
	var mounts []mount
	i := 0
	for ; i < len(args); i++ {
		a := args[i].s
		if !strings.HasPrefix(a, "-") {
			break
		}
		name, val, hasVal := strings.Cut(a, "=")
		if !hasVal && dockerValueOpts[name] && i+1 < len(args) {
			i++
			val = args[i].s
		} else if !hasVal && len(name) > 2 && name[1] != '-' && dockerValueOpts["-"+name[len(name)-1:]] && i+1 < len(args) {
			i++ // -itv value
			name = "-" + name[len(name)-1:]
			val = args[i].s
		}
		switch name {
		case "--privileged":
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "runs a privileged container (full access to the host)")
		case "-v", "--volume":
			h, ctr, _ := strings.Cut(val, ":")
			if j := strings.IndexByte(ctr, ':'); j >= 0 {
				ctr = ctr[:j]
			}
			mounts = append(mounts, mount{path.Clean(h), ctr})
			if sensitiveMounts[path.Clean(h)] {
				s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "mounts the host's "+path.Clean(h)+" into a container")
			}
		case "--mount":
			for _, kv := range strings.Split(val, ",") {
				k, v, _ := strings.Cut(kv, "=")
				if (k == "source" || k == "src") && sensitiveMounts[path.Clean(v)] {
					s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "mounts the host's "+path.Clean(v)+" into a container")
				}
			}
		case "--pid", "--ipc", "--uts", "--userns", "--cgroupns":
			if val == "host" {
				s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "shares the host's "+strings.TrimPrefix(name, "--")+" namespace with a container")
			}
		case "--cap-add":
			if u := strings.ToUpper(val); u == "ALL" || u == "SYS_ADMIN" || u == "SYS_PTRACE" || u == "SYS_MODULE" || u == "DAC_READ_SEARCH" {
				s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "gives a container the "+u+" capability")
			}
		case "--security-opt":
			if strings.Contains(val, "unconfined") {
				s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "disables container confinement")
			}
		}
	}
	if i >= len(args) {
		return
	}
	argv := argStrings(args[i+1:]) // after the image (run) or container (exec)
	if len(argv) == 0 {
		return
	}
	for j, a := range argv {
		for _, m := range mounts {
			if m.ctr != "" && m.ctr != "/" && (a == m.ctr || strings.HasPrefix(a, m.ctr+"/")) {
				argv[j] = path.Join(m.host, strings.TrimPrefix(a, m.ctr))
			}
		}
	}
	inner := s.synthCall(c, argv)
	inner.evidence = c.evidence
	s.analyzeCall(inner)
}

func (s *scan) ruleKubectl(c *call) {
	args := c.rest()
	sub := c.arg(1)
	switch sub {
	case "exec":
		if j := indexOf(args, "--"); j >= 0 && j+1 < len(args) {
			inner := s.synthCall(c, argStrings(args[j+1:]))
			s.analyzeCall(inner)
		}
	case "delete":
		kind := c.arg(2)
		switch {
		case kind == "namespace" || kind == "ns" || kind == "namespaces" || strings.HasPrefix(kind, "namespace/") || strings.HasPrefix(kind, "ns/"):
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes a Kubernetes namespace and everything in it")
		case c.has("--all") || c.has("-A") || c.has("--all-namespaces"):
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes all Kubernetes resources of a kind")
		case kind == "pv" || kind == "pvc" || kind == "persistentvolume" || kind == "persistentvolumeclaim" || kind == "crd" || kind == "customresourcedefinition":
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes Kubernetes storage or resource definitions")
		}
	case "get", "describe":
		kind := c.arg(2)
		if kind == "secret" || kind == "secrets" || strings.HasPrefix(kind, "secret/") {
			for i, a := range args {
				v := a.s
				if (v == "-o" || v == "--output") && i+1 < len(args) {
					v = "-o" + args[i+1].s
				}
				if strings.HasPrefix(v, "-o") || strings.HasPrefix(v, "--output=") {
					if o := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(v, "--output="), "-o"), "="); o != "name" && o != "wide" {
						s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "prints the values of Kubernetes secrets")
						return
					}
				}
			}
		}
	case "run", "debug":
		for _, a := range args {
			l := strings.ReplaceAll(strings.ToLower(a.s), " ", "")
			if a.s == "--privileged" || a.s == "--privileged=true" || strings.Contains(l, `"privileged":true`) || strings.Contains(l, `"hostpid":true`) ||
				strings.Contains(l, `"hostnetwork":true`) || strings.Contains(l, `"hostpath"`) || a.s == "--profile=sysadmin" || strings.HasPrefix(a.s, "node/") {
				s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "starts a privileged pod or one with access to the node")
				break
			}
		}
	case "create":
		if c.arg(2) == "clusterrolebinding" && c.has("--clusterrole=cluster-admin") {
			s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "grants cluster-admin")
		}
	}
}

func (s *scan) ruleAWS(c *call) {
	svc, op := c.arg(1), c.arg(2)
	switch svc + " " + op {
	case "s3 rm":
		if c.has("--recursive") {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "recursively deletes an S3 prefix")
		}
	case "s3 rb":
		if c.has("--force") {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes an S3 bucket and its contents")
		}
	case "s3 cp", "s3 sync", "s3 mv":
		if src := c.arg(3); !strings.HasPrefix(src, "s3://") {
			if info, ok := classifyRead(src); ok && info.sev >= SeverityMedium {
				s.flag(CategoryExfiltration, SeverityHigh, c.evidence, "copies "+info.what+" to S3")
			}
		}
	case "ec2 terminate-instances", "rds delete-db-instance", "rds delete-db-cluster", "dynamodb delete-table", "eks delete-cluster",
		"cloudformation delete-stack", "s3api delete-bucket", "lambda delete-function", "kms schedule-key-deletion":
		s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes cloud resources ("+svc+" "+op+")")
	case "configure get":
		if strings.Contains(strings.ToLower(c.arg(3)), "secret") || strings.Contains(strings.ToLower(c.arg(3)), "token") {
			s.printsSecret(c, SeverityHigh, "prints the AWS secret key")
		}
	case "configure export-credentials", "sts get-session-token", "sts assume-role", "sts get-federation-token", "iam create-access-key", "ecr get-login-password":
		s.printsSecret(c, SeverityMedium, "obtains AWS credentials ("+svc+" "+op+")")
	case "secretsmanager get-secret-value", "ssm get-parameter", "ssm get-parameters", "ssm get-parameters-by-path":
		if svc == "secretsmanager" || c.has("--with-decryption") {
			s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "reads secrets from AWS")
		}
	}
}

func (s *scan) ruleGcloud(c *call) {
	joined := strings.Join(argStrings(c.rest()), " ")
	switch {
	case strings.Contains(joined, "print-access-token") || strings.Contains(joined, "print-identity-token"):
		s.printsSecret(c, SeverityHigh, "prints a Google Cloud access token")
	case strings.HasPrefix(joined, "projects delete") || strings.Contains(joined, "instances delete") || strings.Contains(joined, "clusters delete"):
		s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes Google Cloud resources")
	case strings.HasPrefix(joined, "secrets versions access"):
		s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "reads a secret from Google Secret Manager")
	}
}

var protectedBranches = map[string]bool{"main": true, "master": true, "production": true, "prod": true, "release": true, "trunk": true, "develop": true}

func (s *scan) ruleGit(c *call) {
	args := c.rest()
	i := 0
	for i < len(args) && strings.HasPrefix(args[i].s, "-") { // git -C dir, -c k=v
		if args[i].s == "-C" || args[i].s == "-c" {
			i++
		}
		i++
	}
	if i >= len(args) {
		return
	}
	sub, rest := args[i].s, args[i+1:]
	switch sub {
	case "push":
		force := false
		var pos []string
		for _, a := range rest {
			switch {
			case a.s == "--force" || a.s == "-f" || a.s == "--mirror" || strings.HasPrefix(a.s, "-") && !strings.HasPrefix(a.s, "--") && strings.Contains(a.s, "f"):
				force = true
			case a.s == "--delete" || a.s == "-d":
				force = true
			case !strings.HasPrefix(a.s, "-"):
				pos = append(pos, a.s)
			}
		}
		for j, p := range pos {
			if strings.HasPrefix(p, ":") && j > 0 && protectedBranches[strings.TrimPrefix(p[1:], "refs/heads/")] {
				s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes the protected branch "+p[1:])
				continue
			}
			ref := strings.TrimPrefix(p, "+")
			if k := strings.IndexByte(ref, ':'); k >= 0 {
				ref = ref[k+1:]
			}
			if j > 0 && (force || strings.HasPrefix(p, "+")) && protectedBranches[strings.TrimPrefix(ref, "refs/heads/")] {
				s.flag(CategoryDestructive, SeverityMedium, c.evidence, "force-pushes or deletes the protected branch "+ref)
			}
		}
		if len(pos) > 0 {
			var host hostInfo
			if h, ok := s.st.remotes[pos[0]]; ok {
				host = h
			} else if strings.Contains(pos[0], "://") || strings.Contains(pos[0], "@") {
				host = s.d.inspectURL(strings.Replace(pos[0], ":", "/", strings.Count(pos[0], "@"))).host
			}
			if host.untrusted() && host.class != hostUnknown {
				s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "pushes the repository to "+host.describe())
			}
		}
	case "remote":
		if len(rest) >= 3 && rest[0].s == "add" || len(rest) >= 3 && rest[0].s == "set-url" {
			u := rest[len(rest)-1].s
			if strings.Contains(u, "@") && !strings.Contains(u, "://") {
				u = "ssh://" + strings.Replace(u, ":", "/", 1)
			}
			if s.st.remotes == nil {
				s.st.remotes = make(map[string]hostInfo)
			}
			s.st.remotes[rest[1].s] = s.d.inspectURL(u).host
		}
	case "credential":
		if len(rest) > 0 && rest[0].s == "fill" {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "asks git's credential helper for a stored password")
		}
	case "config":
		for _, a := range rest {
			if strings.Contains(a.s, "credential") && (c.has("--get") || c.has("--get-all") || c.has("--list") || c.has("-l")) {
				s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, "reads git credential configuration")
			}
			if strings.HasPrefix(a.s, "core.hooksPath") || strings.HasPrefix(a.s, "core.sshCommand") || strings.HasPrefix(a.s, "core.fsmonitor") {
				s.flag(CategoryPersistence, SeverityMedium, c.evidence, "makes git run a custom program ("+a.s+")")
			}
		}
	}
}

func (s *scan) ruleDB(c *call) {
	var sql []string
	args := c.rest()
	for i, a := range args {
		if (a.s == "-c" || a.s == "-e" || a.s == "--command" || a.s == "--execute" || a.s == "--eval" || a.s == "-Q" || a.s == "-q") && i+1 < len(args) {
			sql = append(sql, args[i+1].s)
		} else if !strings.HasPrefix(a.s, "-") && (c.name == "sqlite3" || c.name == "redis-cli") {
			sql = append(sql, a.s)
		}
	}
	if text, ok := c.pipeIn(); ok {
		sql = append(sql, text)
	}
	for _, q := range sql {
		u := strings.ToUpper(q)
		switch {
		case strings.Contains(u, "DROP DATABASE") || strings.Contains(u, "DROP SCHEMA") || strings.Contains(u, "DROP TABLE") || strings.Contains(u, "DROPDATABASE()"):
			if strings.Contains(u, "TEST") || strings.Contains(u, "TMP") || strings.Contains(u, "TEMP") || strings.Contains(u, "SCRATCH") {
				s.flag(CategoryDestructive, SeverityLow, c.evidence, "drops a test database or table")
			} else {
				s.flag(CategoryDestructive, SeverityHigh, c.evidence, "drops a database, schema or table")
			}
		case strings.Contains(u, "FLUSHALL") || strings.Contains(u, "FLUSHDB"):
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes every key in Redis")
		case strings.Contains(u, "TRUNCATE "):
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "truncates a table")
		case strings.Contains(u, "DELETE FROM") && !strings.Contains(u, "WHERE"):
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes every row of a table")
		}
	}
}

var securityServices = []string{"auditd", "apparmor", "falcon", "osquery", "wazuh", "crowdstrike", "sysmon", "rsyslog", "syslog", "journald", "firewalld", "ufw", "fail2ban", "clamav", "selinux", "sentinel", "cbagent", "elastic-agent", "datadog"}

func (s *scan) ruleKill(c *call) {
	args := c.rest()
	for _, a := range args {
		if a.s == "-1" && c.name == "kill" && len(args) > 1 || a.s == "1" && c.name == "kill" {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "kills every process (or init)")
			return
		}
	}
	if c.name == "killall5" {
		s.flag(CategoryDestructive, SeverityHigh, c.evidence, "kills every process")
		return
	}
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.s)
		b.WriteByte(' ')
		if a.w != nil {
			b.WriteString(a.w.raw)
		}
	}
	joined := strings.ToLower(b.String())
	for _, svc := range securityServices {
		if strings.Contains(joined, svc) {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "kills the security or logging agent "+svc)
			return
		}
	}
}

func (s *scan) ruleSystemctl(c *call) {
	var verb, unit string
	if c.name == "service" {
		unit, verb = c.arg(1), c.arg(2)
	} else {
		for _, a := range c.rest() {
			if strings.HasPrefix(a.s, "-") {
				continue
			}
			if verb == "" {
				verb = a.s
			} else if unit == "" {
				unit = a.s
			}
		}
	}
	switch verb {
	case "poweroff", "reboot", "halt", "kexec", "emergency", "rescue":
		s.flag(CategoryDestructive, SeverityHigh, c.evidence, "takes the machine down ("+verb+")")
	case "stop", "disable", "mask", "kill":
		for _, svc := range securityServices {
			if strings.Contains(strings.ToLower(unit), svc) {
				s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "stops the security or logging service "+unit)
				return
			}
		}
	case "enable":
		s.flag(CategoryPersistence, SeverityLow, c.evidence, "enables a service at boot")
	}
}

func (s *scan) ruleCrontab(c *call) {
	switch {
	case c.has("-r") || c.has("-ir"):
		s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes the user's cron table")
	case c.has("-l") || c.has("-e"):
	case c.piped || c.arg(1) == "-":
		// judged with the pipeline content
		if !c.piped && c.hasStdin {
			s.persistence(c, writeInfo{CategoryPersistence, SeverityMedium, "the user's cron table", writeCron}, "crontab", c.stdin, true)
		}
	default:
		if f := nonFlagArgs(c); len(f) > 0 {
			s.flag(CategoryPersistence, SeverityMedium, c.evidence, "installs a cron table from "+f[0].s)
		}
	}
}

// printsSecret flags a command that prints a credential, unless its
// output is piped into a consumer (docker login --password-stdin …) or
// captured by a command substitution.
func (s *scan) printsSecret(c *call, sev Severity, why string) {
	switch {
	case c.next != nil && !isDisplayFilter(c.next) && !isNetworkSink(c.next),
		s.inSubst > 0, c.stdout != "" && c.stdout != "/dev/stdout" && c.stdout != "/dev/stderr":
		s.substRead = max(s.substRead, sev)
		s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, why+", passed on to another command")
	default:
		s.flag(CategoryCredentialAccess, sev, c.evidence, why)
	}
}

// envDump judges printing the whole environment.
func (s *scan) envDump(c *call) {
	next := c.next
	switch {
	case next == nil:
		s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "prints the whole environment, which holds secrets")
	case isNetworkSink(next):
		// judged by the pipeline rule
	case next.name == "grep" || next.name == "egrep" || next.name == "rg" || next.name == "fgrep":
		for _, a := range next.rest() {
			l := strings.ToLower(a.s)
			for _, k := range []string{"token", "secret", "key", "pass", "pwd", "auth", "cred", "aws", "api"} {
				if strings.Contains(l, k) && !strings.HasPrefix(a.s, "--") {
					s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "searches the environment for secrets")
					return
				}
			}
		}
	case isDisplayFilter(next):
		s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "prints the whole environment, which holds secrets")
	}
}
