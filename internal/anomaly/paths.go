package anomaly

import (
	"path"
	"strings"
)

// pathInfo describes a sensitive file.
type pathInfo struct {
	sev  Severity // severity of reading it
	what string   // human description, e.g. "SSH private key"
}

// normalizePath rewrites home directories to "~" and cleans p, so that
// /root/.ssh, /home/alice/.ssh, $HOME/.ssh and ~/.ssh compare equal. It
// keeps glob characters.
func normalizePath(p string) string {
	p = strings.TrimSpace(p)
	p = strings.TrimPrefix(p, "file://")
	if p == "" {
		return ""
	}
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
	case strings.HasPrefix(p, "~"): // ~user/...
		if i := strings.IndexByte(p, '/'); i > 0 {
			p = "~" + p[i:]
		} else {
			p = "~"
		}
	case p == "/root" || strings.HasPrefix(p, "/root/"):
		p = "~" + p[len("/root"):]
	case strings.HasPrefix(p, "/home/") || strings.HasPrefix(p, "/Users/"):
		rest := p[strings.IndexByte(p[1:], '/')+2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			p = "~" + rest[i:]
		} else if rest != "" {
			p = "~"
		}
	}
	if strings.HasPrefix(p, "~") {
		c := path.Clean("/" + p[1:])
		if c == "/" {
			return "~"
		}
		return "~" + c
	}
	return path.Clean(p)
}

// homeSensitive lists files and directories under a home directory,
// as paths relative to it. A directory entry covers everything below it.
var homeSensitive = []struct {
	rel  string
	dir  bool
	info pathInfo
}{
	{".aws/credentials", false, pathInfo{SeverityHigh, "AWS credentials"}},
	{".aws", true, pathInfo{SeverityHigh, "AWS configuration directory"}},
	{".config/gcloud", true, pathInfo{SeverityHigh, "Google Cloud credentials"}},
	{".azure", true, pathInfo{SeverityHigh, "Azure credentials"}},
	{".kube", true, pathInfo{SeverityHigh, "Kubernetes credentials"}},
	{".docker/config.json", false, pathInfo{SeverityHigh, "Docker registry credentials"}},
	{".netrc", false, pathInfo{SeverityHigh, "netrc credentials"}},
	{".git-credentials", false, pathInfo{SeverityHigh, "git credential store"}},
	{".npmrc", false, pathInfo{SeverityMedium, "npm credentials"}},
	{".pypirc", false, pathInfo{SeverityMedium, "PyPI credentials"}},
	{".gnupg", true, pathInfo{SeverityHigh, "GnuPG keyring"}},
	{".password-store", true, pathInfo{SeverityHigh, "password store"}},
	{".vault-token", false, pathInfo{SeverityHigh, "Vault token"}},
	{".pgpass", false, pathInfo{SeverityHigh, "PostgreSQL password file"}},
	{".my.cnf", false, pathInfo{SeverityMedium, "MySQL client credentials"}},
	{".config/gh", true, pathInfo{SeverityHigh, "GitHub CLI token"}},
	{".config/hub", false, pathInfo{SeverityHigh, "GitHub token"}},
	{".terraform.d/credentials.tfrc.json", false, pathInfo{SeverityHigh, "Terraform Cloud token"}},
	{".cargo/credentials", false, pathInfo{SeverityHigh, "crates.io token"}},
	{".cargo/credentials.toml", false, pathInfo{SeverityHigh, "crates.io token"}},
	{".m2/settings.xml", false, pathInfo{SeverityMedium, "Maven credentials"}},
	{".gem/credentials", false, pathInfo{SeverityHigh, "RubyGems credentials"}},
	{".config/google-chrome", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{".config/chromium", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{".mozilla", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{"Library/Keychains", true, pathInfo{SeverityHigh, "macOS keychain"}},
	{"Library/Cookies", true, pathInfo{SeverityHigh, "browser cookies"}},
	{"Library/Application Support/Firefox", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{"Library/Application Support/BraveSoftware", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{"Library/Application Support/Microsoft Edge", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{"Library/Application Support/Slack", true, pathInfo{SeverityMedium, "Slack session data"}},
	{".config/BraveSoftware", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{".config/microsoft-edge", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{".config/Slack", true, pathInfo{SeverityMedium, "Slack session data"}},
	{".config/discord", true, pathInfo{SeverityMedium, "Discord session token"}},
	{".config/filezilla", true, pathInfo{SeverityHigh, "FileZilla saved server passwords"}},
	{".filezilla", true, pathInfo{SeverityHigh, "FileZilla saved server passwords"}},
	{".purple", true, pathInfo{SeverityHigh, "Pidgin account passwords"}},
	{".thunderbird", true, pathInfo{SeverityHigh, "Thunderbird profile (saved passwords)"}},
	{".config/remmina", true, pathInfo{SeverityHigh, "Remmina saved connections"}},
	{".local/share/remmina", true, pathInfo{SeverityHigh, "Remmina saved connections"}},
	{".s3cfg", false, pathInfo{SeverityHigh, "S3 credentials"}},
	{".boto", false, pathInfo{SeverityHigh, "cloud storage credentials"}},
	{".config/rclone/rclone.conf", false, pathInfo{SeverityHigh, "rclone remote credentials"}},
	{".config/hcloud", true, pathInfo{SeverityHigh, "Hetzner Cloud token"}},
	{".config/doctl", true, pathInfo{SeverityHigh, "DigitalOcean token"}},
	{".oci", true, pathInfo{SeverityHigh, "Oracle Cloud credentials"}},
	{".terraformrc", false, pathInfo{SeverityHigh, "Terraform Cloud token"}},
	{".composer/auth.json", false, pathInfo{SeverityHigh, "Composer registry credentials"}},
	{".config/composer/auth.json", false, pathInfo{SeverityHigh, "Composer registry credentials"}},
	{".gradle/gradle.properties", false, pathInfo{SeverityMedium, "Gradle credentials"}},
	{".sbt/credentials", false, pathInfo{SeverityHigh, "sbt credentials"}},
	{"Library/Application Support/Google/Chrome", true, pathInfo{SeverityHigh, "browser profile (saved passwords, cookies)"}},
	{".local/share/keyrings", true, pathInfo{SeverityHigh, "desktop keyring"}},
	{".bash_history", false, pathInfo{SeverityMedium, "shell history"}},
	{".zsh_history", false, pathInfo{SeverityMedium, "shell history"}},
	{".history", false, pathInfo{SeverityMedium, "shell history"}},
	{".python_history", false, pathInfo{SeverityMedium, "Python history"}},
	{".psql_history", false, pathInfo{SeverityMedium, "psql history"}},
	{".mysql_history", false, pathInfo{SeverityMedium, "MySQL history"}},
	{".config/anthropic", true, pathInfo{SeverityHigh, "Anthropic credentials"}},
	{".claude/.credentials.json", false, pathInfo{SeverityHigh, "Claude credentials"}},
}

// absSensitive lists sensitive absolute paths; "*" matches one element.
var absSensitive = []struct {
	pattern string
	dir     bool
	info    pathInfo
}{
	{"/etc/shadow", false, pathInfo{SeverityHigh, "system password hashes"}},
	{"/etc/gshadow", false, pathInfo{SeverityHigh, "system group password hashes"}},
	{"/etc/shadow-", false, pathInfo{SeverityHigh, "system password hashes"}},
	{"/etc/security/opasswd", false, pathInfo{SeverityHigh, "old password hashes"}},
	{"/etc/sudoers", false, pathInfo{SeverityMedium, "sudo rules"}},
	{"/etc/sudoers.d", true, pathInfo{SeverityMedium, "sudo rules"}},
	{"/etc/passwd", false, pathInfo{SeverityMedium, "system account list"}},
	{"/etc/master.passwd", false, pathInfo{SeverityHigh, "system password hashes"}},
	{"/etc/ssl/private", true, pathInfo{SeverityHigh, "TLS private keys"}},
	{"/proc/*/environ", false, pathInfo{SeverityHigh, "process environment (secrets)"}},
	{"/proc/*/mem", false, pathInfo{SeverityHigh, "process memory"}},
	{"/proc/kcore", false, pathInfo{SeverityHigh, "kernel memory"}},
	{"/dev/mem", false, pathInfo{SeverityHigh, "physical memory"}},
	{"/var/run/secrets", true, pathInfo{SeverityHigh, "mounted service-account secrets"}},
	{"/run/secrets", true, pathInfo{SeverityHigh, "mounted secrets"}},
	{"/etc/kubernetes/admin.conf", false, pathInfo{SeverityHigh, "Kubernetes admin credentials"}},
	{"/etc/kubernetes/pki", true, pathInfo{SeverityHigh, "Kubernetes PKI keys"}},
	{"/var/lib/kubelet/pki", true, pathInfo{SeverityHigh, "kubelet keys"}},
	{"/etc/rancher/k3s/k3s.yaml", false, pathInfo{SeverityHigh, "Kubernetes admin credentials"}},
}

// classifyRead returns what reading p exposes, if anything sensitive.
func classifyRead(p string) (pathInfo, bool) {
	n := normalizePath(p)
	if n == "" || n == "." || n == "/" {
		return pathInfo{}, false
	}
	if strings.HasPrefix(n, "~/") {
		rel := n[2:]
		if strings.HasPrefix(rel, ".ssh/") || rel == ".ssh" {
			return classifySSH(rel)
		}
		for _, e := range homeSensitive {
			if rel == e.rel || (e.dir && strings.HasPrefix(rel, e.rel+"/")) || (strings.HasPrefix(e.rel, rel+"/") && strings.ContainsAny(rel, "*?")) {
				return e.info, true
			}
		}
	} else if strings.HasPrefix(n, "/") {
		for _, e := range absSensitive {
			if matchElems(e.pattern, n, e.dir) {
				return e.info, true
			}
		}
		if strings.HasPrefix(n, "/etc/ssh/ssh_host_") && strings.HasSuffix(n, "_key") {
			return pathInfo{SeverityHigh, "SSH host private key"}, true
		}
	}
	return classifyBase(path.Base(n))
}

func classifySSH(rel string) (pathInfo, bool) {
	base := path.Base(rel)
	switch {
	case rel == ".ssh" || rel == ".ssh/*":
		return pathInfo{SeverityHigh, "SSH key directory"}, true
	case strings.HasSuffix(base, ".pub"), base == "known_hosts", base == "known_hosts.old":
		return pathInfo{}, false
	case base == "config":
		return pathInfo{SeverityLow, "SSH client configuration"}, true
	case base == "authorized_keys":
		return pathInfo{SeverityLow, "SSH authorized keys"}, true
	}
	return pathInfo{SeverityHigh, "SSH private key"}, true
}

// matchElems matches a cleaned absolute path against pattern, where "*"
// in the pattern and glob characters in the path match one element. With
// dir, anything below the pattern matches too.
func matchElems(pattern, p string, dir bool) bool {
	if !strings.Contains(pattern, "*") && !strings.ContainsAny(p, "*?[") {
		return p == pattern || (dir && strings.HasPrefix(p, pattern+"/"))
	}
	pe := strings.Split(pattern[1:], "/")
	qe := strings.Split(p[1:], "/")
	if len(qe) < len(pe) || (!dir && len(qe) != len(pe)) {
		return false
	}
	for i, e := range pe {
		q := qe[i]
		if e == "*" || e == q {
			continue
		}
		if strings.ContainsAny(q, "*?[") {
			if ok, _ := path.Match(q, e); ok {
				continue
			}
		}
		return false
	}
	return true
}

// classifyBase classifies a file by its name alone.
func classifyBase(base string) (pathInfo, bool) {
	lb := strings.ToLower(base)
	switch {
	case lb == ".env" || strings.HasSuffix(lb, ".env"):
		return pathInfo{SeverityMedium, "environment file with secrets"}, true
	case strings.HasPrefix(lb, ".env."):
		switch strings.TrimPrefix(lb, ".env.") {
		case "example", "sample", "template", "dist", "defaults", "default", "schema", "tpl", "in", "ci", "test":
			return pathInfo{}, false
		}
		return pathInfo{SeverityMedium, "environment file with secrets"}, true
	case lb == "id_rsa" || lb == "id_dsa" || lb == "id_ecdsa" || lb == "id_ed25519" || lb == "id_ecdsa_sk" || lb == "id_ed25519_sk":
		return pathInfo{SeverityHigh, "SSH private key"}, true
	case lb == "id_*" || lb == "id_rsa*" || lb == "id_*[!.pub]":
		return pathInfo{SeverityHigh, "SSH private key"}, true
	case lb == ".git-credentials" || lb == ".netrc" || lb == ".pgpass" || lb == ".vault-token" || lb == "_netrc":
		return pathInfo{SeverityHigh, "credential file"}, true
	case lb == "login data" || lb == "cookies" || lb == "cookies.sqlite" || lb == "logins.json" || lb == "key4.db" || lb == "key3.db":
		return pathInfo{SeverityHigh, "browser password or cookie store"}, true
	case lb == "wallet.dat":
		return pathInfo{SeverityHigh, "cryptocurrency wallet"}, true
	case strings.HasSuffix(lb, ".pem"):
		if strings.Contains(lb, "key") || strings.Contains(lb, "priv") {
			return pathInfo{SeverityHigh, "private key"}, true
		}
		return pathInfo{SeverityLow, "PEM file (certificate or key)"}, true
	case strings.HasSuffix(lb, ".key") || strings.HasSuffix(lb, ".ppk"):
		return pathInfo{SeverityMedium, "private key"}, true
	case strings.HasSuffix(lb, ".p12") || strings.HasSuffix(lb, ".pfx") || strings.HasSuffix(lb, ".jks") || strings.HasSuffix(lb, ".keystore"):
		return pathInfo{SeverityMedium, "key store"}, true
	case lb == "credentials.json" || lb == "credentials.yml" || lb == "credentials.yaml" || lb == "credentials" || lb == "client_secret.json" ||
		strings.HasPrefix(lb, "service-account") && strings.HasSuffix(lb, ".json"):
		return pathInfo{SeverityMedium, "credentials file"}, true
	case strings.HasSuffix(lb, ".tfstate"):
		return pathInfo{SeverityMedium, "Terraform state (contains secrets)"}, true
	case lb == ".htpasswd":
		return pathInfo{SeverityMedium, "password hashes"}, true
	case lb == "secrets.yml" || lb == "secrets.yaml" || lb == "secrets.json" || lb == "secrets.env":
		return pathInfo{SeverityMedium, "secrets file"}, true
	case lb == ".bash_history" || lb == ".zsh_history":
		return pathInfo{SeverityMedium, "shell history"}, true
	}
	return pathInfo{}, false
}

// writeInfo describes what writing to a path means.
type writeInfo struct {
	cat  Category
	sev  Severity
	what string
	kind writeKind
}

type writeKind int

const (
	writeOther writeKind = iota
	writeShellRC
	writeCron
	writeAuthorizedKeys
	writeSudoers
	writeAccounts
	writeService
	writeLog
	writeHistory
	writePreload
	writeDevice
	writeSchedule      // at, batch, systemd timers
	writePythonStartup // .pth, usercustomize, sitecustomize
	writeHook          // git hooks
	writeTrustStore    // system-wide trusted CA certificates
	writeSSHD          // SSH server configuration
	writeAppLog        // an application's own log under /var/log/<app>/
)

// appLog reports whether n is a log file in an application's own
// directory under /var/log (nginx, postgresql, myapp): rotating or
// emptying those is routine; the system and security logs are not.
func appLog(n string) bool {
	rest, ok := strings.CutPrefix(n, "/var/log/")
	if !ok {
		return false
	}
	dir, file, ok := strings.Cut(rest, "/")
	if !ok || file == "" || strings.ContainsAny(dir, "*?[") {
		return false
	}
	switch dir {
	case "audit", "journal", "sssd", "auth", "secure", "wtmp", "btmp", "lastlog", "sudo-io", "installer", "apt", "dpkg", "sa", "sysstat", "private":
		return false
	}
	return true
}

// classifyWrite returns what writing to p means, if it matters.
func classifyWrite(p string) (writeInfo, bool) {
	n := normalizePath(p)
	if n == "" {
		return writeInfo{}, false
	}
	if wi, ok := pythonStartup(n); ok {
		return wi, true
	}
	if wi, ok := gitHook(n); ok {
		return wi, true
	}
	if trustStore(n) {
		return writeInfo{CategoryDefenseEvasion, SeverityLow, "trusted CA certificates", writeTrustStore}, true
	}
	if strings.HasPrefix(n, "~/") {
		rel := n[2:]
		switch rel {
		case ".bashrc", ".bash_profile", ".profile", ".zshrc", ".zprofile", ".zshenv", ".bash_login", ".bash_logout", ".config/fish/config.fish", ".kshrc", ".cshrc", ".tcshrc":
			return writeInfo{CategoryPersistence, SeverityLow, "shell start-up file", writeShellRC}, true
		case ".ssh/authorized_keys", ".ssh/authorized_keys2":
			return writeInfo{CategoryPersistence, SeverityHigh, "SSH authorized keys (grants remote login)", writeAuthorizedKeys}, true
		case ".bash_history", ".zsh_history", ".history":
			return writeInfo{CategoryDefenseEvasion, SeverityMedium, "shell history", writeHistory}, true
		case ".ssh/config":
			return writeInfo{CategorySensitivePath, SeverityMedium, "SSH client configuration", writeOther}, true
		case ".ssh/rc":
			return writeInfo{CategoryPersistence, SeverityHigh, "SSH login script", writeShellRC}, true
		}
		if strings.HasPrefix(rel, ".config/systemd/user/") || strings.HasPrefix(rel, ".config/autostart/") || strings.HasPrefix(rel, "Library/LaunchAgents/") {
			return writeInfo{CategoryPersistence, SeverityMedium, "user service or autostart entry", writeService}, true
		}
		if strings.HasPrefix(rel, ".ssh/") {
			if rel == ".ssh/known_hosts" || strings.HasSuffix(rel, ".pub") {
				return writeInfo{}, false
			}
			return writeInfo{CategorySensitivePath, SeverityMedium, "SSH directory", writeOther}, true
		}
		if i, ok := classifyRead(n); ok && i.sev >= SeverityHigh {
			return writeInfo{CategoryCredentialAccess, SeverityMedium, i.what, writeOther}, true
		}
		return writeInfo{}, false
	}
	if !strings.HasPrefix(n, "/") {
		return writeInfo{}, false
	}
	switch {
	case n == "/etc/sudoers" || strings.HasPrefix(n, "/etc/sudoers.d/"):
		return writeInfo{CategoryPrivilegeEscalation, SeverityHigh, "sudo rules", writeSudoers}, true
	case n == "/etc/passwd" || n == "/etc/shadow" || n == "/etc/group" || n == "/etc/gshadow":
		return writeInfo{CategoryPrivilegeEscalation, SeverityHigh, "system account database", writeAccounts}, true
	case n == "/etc/ld.so.preload":
		return writeInfo{CategoryPrivilegeEscalation, SeverityHigh, "dynamic loader preload list (code runs in every process)", writePreload}, true
	case n == "/etc/crontab" || strings.HasPrefix(n, "/etc/cron.") || strings.HasPrefix(n, "/var/spool/cron/") || n == "/etc/anacrontab":
		return writeInfo{CategoryPersistence, SeverityHigh, "system cron table", writeCron}, true
	case n == "/etc/profile" || strings.HasPrefix(n, "/etc/profile.d/") || n == "/etc/bash.bashrc" || n == "/etc/bashrc" || n == "/etc/zsh/zshrc" || n == "/etc/environment":
		return writeInfo{CategoryPersistence, SeverityHigh, "system-wide shell start-up file", writeShellRC}, true
	case n == "/etc/rc.local" || strings.HasPrefix(n, "/etc/init.d/") || strings.HasPrefix(n, "/etc/rc") && strings.Contains(n, ".d/"):
		return writeInfo{CategoryPersistence, SeverityHigh, "boot script", writeService}, true
	case strings.HasPrefix(n, "/etc/systemd/") || strings.HasPrefix(n, "/lib/systemd/system/") || strings.HasPrefix(n, "/usr/lib/systemd/system/") || strings.HasPrefix(n, "/Library/LaunchDaemons/"):
		return writeInfo{CategoryPersistence, SeverityMedium, "system service definition", writeService}, true
	case strings.HasPrefix(n, "/etc/update-motd.d/") || strings.HasPrefix(n, "/etc/xdg/autostart/"):
		return writeInfo{CategoryPersistence, SeverityHigh, "login hook", writeService}, true
	case appLog(n):
		return writeInfo{CategoryDefenseEvasion, SeverityLow, "application log", writeAppLog}, true
	case strings.HasPrefix(n, "/var/log/") || n == "/var/log":
		return writeInfo{CategoryDefenseEvasion, SeverityMedium, "system log", writeLog}, true
	case strings.HasPrefix(n, "/dev/"):
		if isBlockDevice(n) {
			return writeInfo{CategoryDestructive, SeverityCritical, "raw disk device", writeDevice}, true
		}
		return writeInfo{}, false
	case n == "/proc/sysrq-trigger":
		return writeInfo{CategoryDestructive, SeverityHigh, "magic SysRq trigger (crashes or reboots the machine)", writeOther}, true
	case strings.HasPrefix(n, "/proc/sys/") || strings.HasPrefix(n, "/sys/"):
		return writeInfo{CategorySensitivePath, SeverityMedium, "kernel setting", writeOther}, true
	case strings.HasPrefix(n, "/etc/ssh/sshd_config"):
		return writeInfo{CategoryPersistence, SeverityMedium, "SSH server configuration", writeSSHD}, true
	case n == "/etc/hosts" || n == "/etc/resolv.conf":
		return writeInfo{CategorySensitivePath, SeverityMedium, "name resolution (can redirect traffic)", writeOther}, true
	case strings.HasPrefix(n, "/etc/systemd/journald.conf") || strings.HasPrefix(n, "/etc/audit/") || strings.HasPrefix(n, "/etc/rsyslog") || n == "/etc/audisp" || strings.HasPrefix(n, "/etc/audisp/"):
		return writeInfo{CategoryDefenseEvasion, SeverityHigh, "logging or audit configuration", writeOther}, true
	case strings.HasPrefix(n, "/etc/modprobe.d/") || strings.HasPrefix(n, "/etc/modules-load.d/") || n == "/etc/modules":
		return writeInfo{CategoryPersistence, SeverityHigh, "kernel module configuration", writeOther}, true
	case strings.HasPrefix(n, "/etc/pam.d/") || strings.HasPrefix(n, "/lib/security/") || strings.HasPrefix(n, "/usr/lib/security/") || strings.HasPrefix(n, "/etc/security/"):
		return writeInfo{CategoryPersistence, SeverityHigh, "PAM authentication module", writeOther}, true
	case strings.HasPrefix(n, "/etc/"):
		return writeInfo{CategorySensitivePath, SeverityMedium, "system configuration", writeOther}, true
	case strings.HasPrefix(n, "/boot/") || strings.HasPrefix(n, "/bin/") || strings.HasPrefix(n, "/sbin/") || strings.HasPrefix(n, "/usr/bin/") ||
		strings.HasPrefix(n, "/usr/sbin/") || strings.HasPrefix(n, "/lib/") || strings.HasPrefix(n, "/usr/lib/") || strings.HasPrefix(n, "/lib64/"):
		return writeInfo{CategorySensitivePath, SeverityMedium, "system binaries or libraries", writeOther}, true
	}
	return writeInfo{}, false
}

// isBlockDevice reports whether a /dev path names a disk or partition.
func isBlockDevice(n string) bool {
	name := strings.TrimPrefix(n, "/dev/")
	for _, p := range []string{"sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "rdisk", "md", "dm-", "mapper/", "root", "nbd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// systemTopDirs are top-level directories whose recursive removal wrecks
// the machine.
var systemTopDirs = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true, "/lib": true, "/lib32": true,
	"/lib64": true, "/opt": true, "/proc": true, "/root": true, "/sbin": true, "/srv": true, "/sys": true,
	"/usr": true, "/var": true, "/mnt": true, "/media": true, "/snap": true, "/Users": true, "/System": true,
	"/Applications": true, "/Library": true,
}
