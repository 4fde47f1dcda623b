package anomaly

// This file holds the rules for anti-forensics and impact: timestamp
// forgery, immutable bits on system files, kernel security knobs, the
// magic SysRq key, disabling security tools, clearing the kernel log,
// mass encryption and crypto miners. It also holds credential-store
// rules that need more than a path (keyrings, kubeconfig dumps).

import (
	"strconv"
	"strings"
)

// systemPath reports whether p is outside the project and the user's
// ordinary files: system directories, hidden files, temporary files.
func systemPath(p string) bool {
	n := normalizePath(p)
	if hiddenOrTemp(n) || strings.HasPrefix(n, "~/.") {
		return true
	}
	for _, d := range []string{"/usr/", "/bin/", "/sbin/", "/etc/", "/lib/", "/lib64/", "/boot/", "/var/", "/opt/", "/root/", "/System/", "/Library/"} {
		if strings.HasPrefix(n, d) {
			return true
		}
	}
	return false
}

// ruleTouch judges forged timestamps: touch -t/-d/-r on system files,
// hidden or temporary files, or to a date years back.
func (s *scan) ruleTouch(c *call) {
	args := c.rest()
	forged, old, ref := false, false, ""
	for i, a := range args {
		v := ""
		if len(a.s) > 2 && a.s[0] == '-' && a.s[1] != '-' && i+1 < len(args) {
			// grouped short options: the last one takes the value (-acmr REF)
			switch a.s[len(a.s)-1] {
			case 'r':
				forged, ref = true, args[i+1].s
			case 't', 'd':
				forged, v = true, args[i+1].s
			}
		}
		switch {
		case (a.s == "-t" || a.s == "-d" || a.s == "--date") && i+1 < len(args):
			forged, v = true, args[i+1].s
		case strings.HasPrefix(a.s, "--date="):
			forged, v = true, a.s[len("--date="):]
		case (a.s == "-r" || a.s == "--reference") && i+1 < len(args):
			forged, ref = true, args[i+1].s
		case strings.HasPrefix(a.s, "--reference="):
			forged, ref = true, a.s[len("--reference="):]
		}
		if v != "" && oldDate(v) {
			old = true
		}
	}
	if !forged {
		return
	}
	var targets []string
	for i, a := range args {
		if strings.HasPrefix(a.s, "-") || i > 0 && strings.HasPrefix(args[i-1].s, "-") && !strings.HasPrefix(args[i-1].s, "--") && strings.ContainsAny(args[i-1].s[len(args[i-1].s)-1:], "rtd") ||
			i > 0 && (args[i-1].s == "--date" || args[i-1].s == "--reference") {
			continue
		}
		targets = append(targets, a.s)
	}
	for _, t := range targets {
		switch {
		case systemPath(t):
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "forges the timestamp of "+t+" to hide a change")
			return
		case ref != "" && systemPath(ref) && !strings.HasPrefix(ref, "~"):
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "copies the timestamp of the system file "+ref+" to "+t)
			return
		case old:
			s.flag(CategoryDefenseEvasion, SeverityLow, c.evidence, "sets an old timestamp on "+t)
			return
		}
	}
}

// oldDate reports whether a touch -t/-d value names a year before 2022.
func oldDate(v string) bool {
	digits := strings.TrimLeft(v, " ")
	if len(digits) < 4 {
		return false
	}
	y, err := strconv.Atoi(digits[:4])
	if err != nil {
		return false
	}
	return y >= 1970 && y < 2022
}

// ruleChattr judges changing the immutable or append-only bits of
// system files (protecting a planted file, or unlocking one to edit it).
func (s *scan) ruleChattr(c *call) {
	attrs, adds := false, false
	for _, a := range c.rest() {
		if len(a.s) > 1 && (a.s[0] == '+' || a.s[0] == '-' || a.s[0] == '=') && strings.ContainsAny(a.s[1:], "ia") && !strings.ContainsAny(a.s[1:], "RVfv") {
			attrs = true
			adds = adds || a.s[0] != '-'
		}
	}
	if !attrs {
		return
	}
	for _, a := range nonFlagArgs(c) {
		if strings.HasPrefix(a.s, "+") || strings.HasPrefix(a.s, "=") {
			continue
		}
		if wi, ok := classifyWrite(a.s); ok && wi.sev >= SeverityHigh {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "changes the immutable bit of "+wi.what+" "+a.s)
			return
		}
		if systemPath(a.s) {
			if !adds {
				// unlocking an ordinary config file to edit it is routine
				s.flag(CategoryDefenseEvasion, SeverityLow, c.evidence, "removes the immutable or append-only bit of "+a.s)
				return
			}
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "changes the immutable or append-only bit of "+a.s)
			return
		}
	}
}

// securityKnobs are kernel settings that harden the system; the value is
// what turns the protection off ("" for any change).
var securityKnobs = map[string]string{
	"kernel.randomize_va_space": "0", "kernel.yama.ptrace_scope": "0", "kernel.dmesg_restrict": "0",
	"kernel.kptr_restrict": "0", "kernel.unprivileged_bpf_disabled": "0", "kernel.kexec_load_disabled": "0",
	"kernel.perf_event_paranoid": "-1", "fs.protected_symlinks": "0", "fs.protected_hardlinks": "0",
	"fs.protected_regular": "0", "fs.protected_fifos": "0", "fs.suid_dumpable": "", "kernel.core_pattern": "|",
	"kernel.modules_disabled": "0", "kernel.sysrq": "1", "vm.mmap_min_addr": "0", "kernel.unprivileged_userns_clone": "1",
	"net.ipv4.conf.all.rp_filter": "0", "kernel.ftrace_enabled": "",
}

func (s *scan) ruleSysctl(c *call) {
	for _, a := range c.rest() {
		k, v, ok := strings.Cut(a.s, "=")
		if !ok {
			continue
		}
		k = strings.ReplaceAll(strings.TrimSpace(k), "/", ".")
		off, known := securityKnobs[k]
		if !known {
			continue
		}
		if off == "" || strings.HasPrefix(strings.TrimSpace(v), off) {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "weakens the kernel security setting "+k)
			return
		}
	}
}

// securityToolOff judges commands that switch off AppArmor, SELinux,
// auditing or endpoint agents, and clear the kernel log.
func (s *scan) securityToolOff(c *call) {
	switch c.name {
	case "aa-teardown", "aa-disable":
		s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "disables AppArmor profiles")
	case "aa-complain":
		s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "puts AppArmor profiles in complain mode")
	case "apparmor_parser":
		if c.has("-R") || c.has("--remove") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "unloads an AppArmor profile")
		}
	case "dmesg":
		if c.has("-C") || c.has("-c") || c.has("--clear") || c.has("--read-clear") {
			s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "clears the kernel log")
		}
	}
}

// minerNames are crypto-currency miners.
var minerNames = []string{"xmrig", "cpuminer", "minerd", "ethminer", "t-rex", "nbminer", "lolminer", "phoenixminer", "cgminer",
	"bfgminer", "xmr-stak", "srbminer", "teamredminer", "nanominer", "gminer", "ccminer", "cryptonight", "randomx"}

// minerPools are fragments of mining pool addresses.
var minerPools = []string{"stratum+tcp://", "stratum+ssl://", "stratum+tls://", "stratum2+tcp://", "supportxmr", "nanopool.org",
	"minexmr", "2miners.com", "f2pool", "hashvault", "moneroocean", "nicehash", "herominers", "unmineable", "xmrpool", "c3pool", "minergate"}

// ruleMiner flags crypto miners by name and by mining pool address.
func (s *scan) ruleMiner(c *call) {
	name := strings.ToLower(c.name)
	for _, m := range minerNames {
		if strings.Contains(name, m) {
			s.flag(CategoryDestructive, SeverityHigh, c.evidence, "runs the crypto miner "+c.name)
			return
		}
	}
	// pools are given as a stratum URL or as the value of -o/--url
	args := c.rest()
	for i, a := range args {
		v := a.s
		if !strings.Contains(v, "stratum") {
			if i == 0 || (args[i-1].s != "-o" && args[i-1].s != "--url" && args[i-1].s != "-url" && args[i-1].s != "--pool") {
				continue
			}
		}
		l := strings.ToLower(v)
		for _, p := range minerPools {
			if strings.Contains(l, p) {
				s.flag(CategoryDestructive, SeverityHigh, c.evidence, "connects to a crypto-mining pool ("+a.s+")")
				return
			}
		}
	}
}

// isEncryptCall reports whether c encrypts a file.
func isEncryptCall(c *call) bool {
	switch c.name {
	case "openssl":
		return (c.arg(1) == "enc" || strings.HasPrefix(c.arg(1), "aes") || strings.HasPrefix(c.arg(1), "chacha")) && !c.has("-d")
	case "gpg", "gpg2":
		return (c.hasShort('c') || c.has("--symmetric") || c.hasShort('e') || c.has("--encrypt")) && !c.hasShort('d') && !c.has("--decrypt")
	case "age", "ccrypt", "ccencrypt", "scrypt", "mcrypt", "aescrypt":
		return !c.hasShort('d') && !c.has("--decrypt")
	case "7z", "7za":
		for _, a := range c.rest() {
			if strings.HasPrefix(a.s, "-p") {
				return true
			}
		}
	case "zip":
		return c.hasShort('e') || c.hasShort('P')
	}
	return false
}

// noteIteration records encryption and removal inside loops, find -exec
// and xargs; both together are how ransomware treats a tree of files.
func (s *scan) noteIteration(c *call) {
	if s.loop == 0 && !c.xargs {
		return
	}
	switch {
	case isEncryptCall(c):
		s.st.loopEncrypt = true
	case c.name == "rm" || c.name == "shred" || c.name == "unlink" || c.name == "srm" || c.name == "wipe":
		s.st.loopRemove = true
	default:
		return
	}
	if s.st.loopEncrypt && s.st.loopRemove && !s.st.ransom {
		s.st.ransom = true
		s.flag(CategoryDestructive, SeverityCritical, c.evidence, "encrypts files one by one and deletes the originals (ransomware)")
	}
}

// ruleKeyring judges reading secrets from desktop keyrings and dumping
// credentials that kubectl holds.
func (s *scan) ruleKeyring(c *call) {
	switch c.name {
	case "secret-tool":
		switch c.arg(1) {
		case "lookup", "search":
			s.printsSecret(c, SeverityHigh, "reads a password from the desktop keyring")
		}
	case "kubectl", "oc":
		if c.arg(1) == "config" && c.arg(2) == "view" && (c.has("--raw") || c.has("--flatten")) {
			s.printsSecret(c, SeverityHigh, "prints the kubeconfig with its credentials")
		}
	case "kwallet-query":
		if c.has("-r") || c.has("--read-password") {
			s.printsSecret(c, SeverityHigh, "reads a password from KWallet")
		}
	}
}
