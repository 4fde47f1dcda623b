package anomaly

// This file dispatches a call to the rules for its command, and holds the
// rules about processes, services, cron and the environment.

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
	s.ruleOptionCommands(c)
	s.ruleMiner(c)
	s.noteDecodedFile(c)
	s.runsDecoded(c)
	s.ruleSecurityDiscovery(c)
	s.busyLoop(c)
	s.noteIteration(c)
	s.ruleStdinUpload(c)
	s.ruleSocketDownload(c)
	s.libraryOption(c)
	if dir, ok := httpServerDir(c); ok {
		s.ruleFileServer(c, dir)
	}
	if sev, ok := scannerTools[c.name]; ok {
		s.flag(CategoryNetworkScan, sev, c.evidence, c.name+" scans or attacks network services")
		return
	}
	if strings.HasPrefix(c.name, "mkfs") {
		s.ruleDisk(c)
		return
	}
	if wn := winName(c); wn == "powershell" || wn == "pwsh" {
		s.rulePowerShell(c)
		return
	} else if powerShellCmdlet(c.name) {
		s.powerShellCode(c, c.evidence) // the agent's shell is PowerShell
		return
	} else if windowsTools[wn] {
		s.ruleWindows(c)
		if wn != "cmd" && wn != "copy" && wn != "move" {
			return
		}
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
	case "python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node", "nodejs", "bun", "php", "lua", "luajit", "Rscript", "osascript", "tclsh",
		"jrunscript", "jjs", "julia", "groovy", "scala", "wish", "expect":
		s.ruleInterpreter(c)
	case "go", "gcc", "cc", "clang", "g++", "c++", "tcc", "rustc", "javac", "java", "kotlinc", "swift", "swiftc", "dotnet", "csc", "mcs", "nim", "zig", "crystal", "ghc", "runghc", "ocaml":
		s.ruleCompile(c)
		if c.name == "go" {
			s.ruleInstall(c)
		}
	case "awk", "gawk", "mawk", "nawk":
		s.ruleAwk(c)
	case "grep", "egrep", "fgrep", "rg", "ag", "ack", "git-grep":
		s.ruleGrep(c)
	case "curl":
		s.ruleCurl(c)
		s.ruleDockerSocket(c)
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
	case "scp", "rsync":
		s.ruleRemoteCopy(c)
	case "rclone":
		s.ruleRemoteCopy(c)
		s.ruleRclone(c)
	case "dig", "nslookup", "host", "ping", "ping6", "drill", "traceroute", "tracepath", "mtr", "getent":
		s.ruleDNS(c)
	case "fping":
		s.ruleFping(c)
	case "ngrok", "cloudflared", "lt", "localtunnel", "bore", "frpc", "chisel", "pagekite", "pagekite.py", "zrok", "tailscale", "tunnelto", "localxpose", "loclx":
		s.ruleTunnel(c)
	case "pip", "pip3", "pipx", "uv", "poetry", "easy_install", "npm", "yarn", "pnpm", "bun-install", "gem", "cargo":
		s.ruleInstall(c)
		if c.name == "npm" || c.name == "yarn" || c.name == "pnpm" {
			s.packageScripts(c)
		}
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
		if c.name == "usermod" {
			s.ruleAccountLock(c)
		}
		s.ruleUsermod(c)
	case "smbclient", "tftp", "ftp", "lftp", "sftp", "ncftpput", "atftp":
		s.ruleTransfer(c)
	case "code", "code-insiders", "code-tunnel", "devtunnel":
		s.ruleCodeTunnel(c)
	case "touch":
		s.ruleTouch(c)
	case "chattr":
		s.ruleChattr(c)
	case "sysctl":
		s.ruleSysctl(c)
	case "aa-teardown", "aa-disable", "aa-complain", "apparmor_parser", "dmesg":
		s.securityToolOff(c)
	case "secret-tool", "kwallet-query":
		s.ruleKeyring(c)
	case "script":
		s.ruleScript(c)
	case "capsh":
		if c.has("--") {
			if i := indexOf(c.args, "--"); i == len(c.args)-1 {
				s.escapeShellVia(c, "capsh")
			}
		}
	case "xinput", "logkeys", "lkl", "uberkey", "keysniffer", "evtest", "xwd", "import", "scrot", "gnome-screenshot", "screencapture",
		"maim", "grim", "spectacle", "flameshot", "xclip", "xsel", "wl-paste", "pbpaste":
		s.ruleCapture(c)
	case "trust", "certutil":
		s.ruleTrustCert(c)
	case "gcore", "procdump", "memdump", "gdb":
		s.ruleMemoryDump(c)
	case "launchctl":
		s.ruleLaunchctl(c)
	case "defaults":
		s.ruleDefaults(c)
	case "spctl", "csrutil", "xattr", "tmutil", "dscl", "vssadmin", "wbadmin", "bcdedit", "wmic":
		s.ruleMacProtection(c)
	case "ip", "ifconfig", "tcpdump", "tshark", "dumpcap", "ettercap", "arpspoof", "bettercap", "dsniff", "mitm6", "tcpflow":
		s.ruleSniff(c)
	case "getcap":
		s.ruleGetcap(c)
	case "userdel", "deluser", "chage":
		s.ruleAccountLock(c)
	case "arecord", "parecord", "rec", "pw-record", "ffmpeg", "avconv", "gst-launch-1.0", "streamer", "fswebcam", "imagesnap":
		s.ruleCaptureDevice(c)
	case "mount":
		s.ruleMount(c)
	case "fc":
		if c.hasShort('l') {
			s.ruleHistorySearch(c)
		}
	case "whois":
		s.ruleWhois(c)
	case "alias":
		for _, a := range c.rest() {
			if name, val, ok := strings.Cut(a.s, "="); ok && val != "" {
				s.nested(val, "alias "+name)
			}
		}
	case "printf":
		if c.arg(1) == "-v" && len(c.args) >= 4 {
			static := true
			for _, a := range c.args[3:] {
				if a.w != nil && a.w.dynamic && !a.w.substStatic {
					static = false
				}
			}
			if out, _, ok := printfFormat(c.arg(3), argStrings(c.args[4:])); ok && static {
				s.assign(c.arg(2), word{s: out}, true, c.evidence)
			}
		}
	case "watch":
		s.ruleWatch(c)
	case "insmod", "modprobe", "rmmod", "kmod":
		s.ruleKernelModule(c)
	case "sed", "gsed":
		s.ruleInPlace(c)
	case "passwd", "chpasswd", "visudo":
		if c.name == "passwd" {
			s.ruleAccountLock(c)
		}
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
		s.ruleKubectlExpose(c)
		s.ruleKeyring(c)
		s.ruleKubeToken(c)
	case "terraform", "tofu":
		if c.arg(1) == "state" && c.arg(2) == "pull" {
			s.printsSecret(c, SeverityMedium, "prints the Terraform state, which holds secrets")
		}
		if c.arg(1) == "destroy" || c.arg(1) == "apply" && c.has("-destroy") {
			sev := SeverityMedium
			if c.has("-auto-approve") || c.has("--auto-approve") {
				sev = SeverityHigh
			}
			s.flag(CategoryDestructive, sev, c.evidence, "destroys infrastructure with "+c.name)
		}
	case "aws":
		s.ruleAWS(c)
		s.ruleControlPlane(c)
	case "gcloud":
		s.ruleGcloud(c)
		s.ruleControlPlane(c)
	case "az":
		s.ruleControlPlane(c)
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
		if c.name == "deno" {
			s.ruleInterpreter(c)
		}
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
		s.ruleTrap(c)
	case "at", "batch":
		s.ruleAt(c)
	case "systemd-run":
		s.ruleSystemdRun(c)
	case "history":
		s.ruleHistorySearch(c)
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
		for i, a := range c.rest() {
			if !strings.HasPrefix(a.s, "--vacuum") {
				continue
			}
			// trimming the journal to a size or file count is disk
			// maintenance; vacuuming by time to a short age erases what
			// just happened
			v, ok := strings.CutPrefix(a.s, "--vacuum-time=")
			if !ok && a.s == "--vacuum-time" && i+1 < len(c.rest()) {
				v, ok = c.rest()[i+1].s, true
			}
			switch {
			case ok && shortAge(v):
				s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "erases recent system journal entries")
			case ok:
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "deletes system journal entries")
			default:
				s.flag(CategoryDefenseEvasion, SeverityLow, c.evidence, "trims the system journal")
			}
			break
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
		s.ruleNAT(c)
		if c.has("-F") || c.has("--flush") || c.has("-X") || c.has("flush") || c.has("-P") && c.has("ACCEPT") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "flushes or opens the firewall rules")
		}
	case "auditctl":
		if c.has("-D") || c.has("-e") && c.has("0") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "disables or clears audit rules")
		}
	case "security":
		s.ruleTrustCert(c)
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

// shortAge reports whether a journalctl time span is under a day (1s,
// 10m, 2h).
func shortAge(v string) bool {
	v = strings.TrimSpace(v)
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	switch strings.TrimSpace(v[i:]) {
	case "", "s", "sec", "second", "seconds", "m", "min", "minute", "minutes", "h", "hour", "hours", "ms", "us":
		return true
	}
	return false
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

// printsSecret flags a command that prints a credential, unless its
// output is piped into a consumer (docker login --password-stdin …) or
// captured by a command substitution.
func (s *scan) printsSecret(c *call, sev Severity, why string) {
	switch {
	case c.stdout != "" && hiddenOrTemp(normalizePath(c.stdout)):
		// staged in a hidden or temporary file: kept for later, not used
		s.substRead = max(s.substRead, sev)
		s.flag(CategoryCredentialAccess, sev, c.evidence, why+", saved to "+c.stdout)
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

var securityServices = []string{"auditd", "apparmor", "falcon", "osquery", "wazuh", "crowdstrike", "sysmon", "rsyslog", "syslog", "journald", "firewalld", "ufw", "fail2ban", "clamav", "selinux", "sentinel", "cbagent", "elastic-agent", "datadog"}

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
	case "enable", "link", "start", "reenable":
		for _, a := range c.rest() {
			if content, ok := s.st.files[cleanPathArg(a.s)]; ok {
				// judged by what the unit runs: a payload makes it high
				s.persistence(c, writeInfo{CategoryPersistence, SeverityLow, "service unit written in this command", writeService}, a.s, content, true)
				return
			}
			if strings.Contains(a.s, "/") && !strings.HasPrefix(a.s, "-") {
				// a unit file from outside the unit directories
				sev := SeverityMedium
				if hiddenOrTemp(normalizePath(a.s)) || strings.Contains(a.s, "/.") {
					sev = SeverityHigh
				}
				s.flag(CategoryPersistence, sev, c.evidence, "installs the service unit "+a.s+" from outside the unit directories")
				return
			}
		}
		if verb == "enable" || verb == "reenable" {
			s.flag(CategoryPersistence, SeverityLow, c.evidence, "enables a service at boot")
		}
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
