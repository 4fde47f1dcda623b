package anomaly

// This file holds rules for the host's own control planes: the Docker
// daemon's socket, macOS launchd, defaults, Gatekeeper and directory
// services, process memory dumps, backup and snapshot deletion, and CPU
// exhaustion.

import (
	"strings"
)

// dockerSocket reports whether s names the Docker or containerd API
// socket.
func dockerSocket(s string) bool {
	return strings.Contains(s, "docker.sock") || strings.Contains(s, "containerd.sock") || strings.Contains(s, "podman.sock") || strings.Contains(s, "crio.sock")
}

// ruleDockerSocket judges HTTP requests straight to the Docker socket:
// whoever creates containers there is root on the host.
func (s *scan) ruleDockerSocket(c *call) {
	sock := false
	for _, a := range c.rest() {
		if dockerSocket(a.s) {
			sock = true
		}
	}
	if !sock {
		return
	}
	text := strings.Join(argStrings(c.rest()), " ")
	low := strings.ToLower(text)
	switch {
	case strings.Contains(low, `"privileged":true`) || strings.Contains(text, `"/:/`) || strings.Contains(low, `"pidmode":"host"`):
		s.flag(CategoryPrivilegeEscalation, SeverityCritical, c.evidence, "creates a privileged or host-mounting container through the Docker socket")
	case strings.Contains(low, "post") || strings.Contains(low, "/exec") || strings.Contains(low, "/containers/create"):
		s.flag(CategoryPrivilegeEscalation, SeverityHigh, c.evidence, "drives the Docker daemon through its socket (root on the host)")
	default:
		s.flag(CategoryPrivilegeEscalation, SeverityLow, c.evidence, "queries the Docker daemon through its socket")
	}
}

// secretHolders are processes whose memory holds secrets.
var secretHolders = []string{"vault", "sshd", "ssh-agent", "gpg-agent", "keepass", "1password", "bitwarden", "chrome", "firefox",
	"gnome-keyring", "kwallet", "lsass", "passwd", "sudo", "login", "aws", "kubelet", "etcd"}

// ruleMemoryDump judges dumping another process's memory.
func (s *scan) ruleMemoryDump(c *call) {
	text := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	for _, a := range c.rest() {
		if a.w != nil {
			text += " " + strings.ToLower(a.w.raw)
		}
	}
	switch c.name {
	case "gcore", "procdump", "memdump":
	case "gdb":
		if !strings.Contains(text, "dump memory") && !strings.Contains(text, "generate-core-file") && !strings.Contains(text, "gcore") {
			return
		}
	default:
		return
	}
	for _, p := range secretHolders {
		if strings.Contains(text, p) {
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "dumps the memory of "+p+", which holds secrets")
			return
		}
	}
	s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "dumps another process's memory")
}

// securityDaemons are macOS and Linux security agents' launchd labels.
var securityDaemons = []string{"crowdstrike", "falcon", "sentinel", "jamf", "santa", "osquery", "xprotect", "mrt", "carbonblack",
	"cbdefense", "sophos", "eset", "mcafee", "trend", "cylance", "tanium", "wazuh", "elastic", "defender", "wdav", "kandji", "mosyle"}

// ruleLaunchctl judges loading launchd jobs and unloading security
// agents.
func (s *scan) ruleLaunchctl(c *call) {
	sub := c.arg(1)
	text := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	switch sub {
	case "load", "bootstrap", "enable", "submit", "kickstart":
		if sub == "kickstart" {
			return
		}
		sev := SeverityMedium
		if strings.Contains(text, "com.apple.") && strings.Contains(text, "library/launchagents") && !strings.HasPrefix(text, "/system") ||
			strings.Contains(text, "/tmp/") || strings.Contains(text, "/users/shared/") {
			sev = SeverityHigh // an agent dressed up as Apple's, or loaded from a drop directory
		}
		s.flag(CategoryPersistence, sev, c.evidence, "installs a launchd job that starts at login or boot")
	case "unload", "bootout", "disable", "remove", "stop":
		for _, d := range securityDaemons {
			if strings.Contains(text, d) {
				s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "stops the security agent "+d)
				return
			}
		}
	}
}

// ruleDefaults judges macOS defaults that run code at login or switch
// protections off.
func (s *scan) ruleDefaults(c *call) {
	if c.arg(1) != "write" {
		return
	}
	text := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	switch {
	case strings.Contains(text, "loginhook") || strings.Contains(text, "logouthook"):
		s.flag(CategoryPersistence, SeverityHigh, c.evidence, "installs a login hook script")
	case strings.Contains(text, "lsquarantine") && (strings.Contains(text, "false") || strings.Contains(text, " 0")):
		s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "turns off quarantine of downloaded files")
	case strings.Contains(text, "com.apple.alf") || strings.Contains(text, "globalstate") && strings.Contains(text, "firewall"):
		s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "changes the application firewall")
	}
}

// ruleMacProtection judges Gatekeeper, SIP, quarantine and backups.
func (s *scan) ruleMacProtection(c *call) {
	switch c.name {
	case "spctl":
		if c.has("--master-disable") || c.has("--global-disable") || c.has("--disable") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "turns Gatekeeper off")
		}
	case "csrutil":
		if c.arg(1) == "disable" || c.arg(1) == "authenticated-root" && c.arg(2) == "disable" {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "turns System Integrity Protection off")
		}
	case "xattr":
		if !strings.Contains(strings.Join(argStrings(c.rest()), " "), "com.apple.quarantine") && !c.hasShort('c') {
			return
		}
		if !c.hasShort('d') && !c.hasShort('c') {
			return
		}
		for _, a := range nonFlagArgs(c) {
			if _, dl := s.st.downloads[cleanPathArg(a.s)]; dl || hiddenOrTemp(normalizePath(a.s)) {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "removes the quarantine mark from "+a.s+" so it runs unchecked")
				return
			}
		}
	case "tmutil":
		switch c.arg(1) {
		case "disable", "deletelocalsnapshots", "delete", "thinlocalsnapshots":
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "disables or deletes Time Machine backups")
		}
	case "dscl":
		text := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
		switch {
		case strings.Contains(text, "shadowhashdata") || strings.Contains(text, "-read") && strings.Contains(text, "authenticationauthority"):
			s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "reads password hashes from Directory Services")
		case (c.has("-create") || c.has("-append")) && (strings.Contains(text, "uniqueid 0") || strings.Contains(text, "groupmembership") && strings.Contains(text, "admin")):
			s.flag(CategoryPersistence, SeverityHigh, c.evidence, "creates a root or admin account")
		}
	case "vssadmin", "wbadmin", "bcdedit", "wmic":
		text := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
		if strings.Contains(text, "delete") && (strings.Contains(text, "shadow") || strings.Contains(text, "catalog") || strings.Contains(text, "backup")) ||
			strings.Contains(text, "recoveryenabled") && strings.Contains(text, "no") || strings.Contains(text, "resize shadowstorage") {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "deletes backups or shadow copies (blocks recovery)")
		}
	}
}

// ruleOsascript judges AppleScript that asks the user for a password.
func (s *scan) ruleOsascript(c *call) {
	code, ok := inlineCode(c)
	if !ok {
		return
	}
	low := strings.ToLower(code.s)
	if strings.Contains(low, "display dialog") && (strings.Contains(low, "hidden answer") || strings.Contains(low, "password")) {
		s.flag(CategoryCredentialAccess, SeverityHigh, c.evidence, "shows a fake password prompt")
	}
}

// busyLoops counts background copies of programs that only burn CPU.
func (s *scan) busyLoop(c *call) {
	if c.st == nil || !c.st.Background {
		return
	}
	switch {
	case c.name == "yes", c.name == "cat" && (c.arg(1) == "/dev/zero" || c.arg(1) == "/dev/urandom"),
		c.name == "dd" && strings.Contains(strings.Join(argStrings(c.rest()), " "), "of=/dev/null"),
		c.name == "sha1sum" && c.arg(1) == "/dev/zero", c.name == "md5sum" && c.arg(1) == "/dev/zero":
	default:
		return
	}
	s.st.busy++
	if s.st.busy == 2 {
		s.flag(CategoryDestructive, SeverityMedium, c.evidence, "starts several background processes that only burn CPU")
	}
}
