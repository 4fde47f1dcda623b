package anomaly

// This file holds rules for reconnaissance that precedes an attack
// (capability enumeration, looking for security software, searching
// history for passwords), account lockout, capture devices, bind mounts
// over system files, traffic redirection, SSH tunnels, and binaries
// decoded from text.

import (
	"strings"
)

// securityNames are fragments of security products' process and service
// names.
var securityNames = append(append([]string{}, securityServices...), securityDaemons...)

// mentionsSecurityTool reports whether a search pattern names security
// software.
func mentionsSecurityTool(p string) bool {
	l := strings.ToLower(p)
	for _, n := range securityNames {
		if len(n) >= 4 && strings.Contains(l, n) {
			return true
		}
	}
	return false
}

// ruleSecurityDiscovery judges searching the process or service list for
// security software (what to disable or evade next).
func (s *scan) ruleSecurityDiscovery(c *call) {
	switch c.name {
	case "grep", "egrep", "rg", "pgrep", "pidof", "pkill":
		if c.name == "pkill" {
			return
		}
		if c.name == "grep" || c.name == "egrep" || c.name == "rg" {
			if c.prev == nil || !(c.prev.name == "ps" || c.prev.name == "systemctl" || c.prev.name == "launchctl" || c.prev.name == "service" || c.prev.name == "top" || c.prev.name == "lsmod" || c.prev.name == "kextstat") {
				return
			}
		}
		for _, a := range c.rest() {
			if !strings.HasPrefix(a.s, "-") && mentionsSecurityTool(a.s) {
				s.flag(CategoryDefenseEvasion, SeverityMedium, c.evidence, "looks for running security software")
				return
			}
		}
	}
}

// ruleGetcap judges enumerating file capabilities across the system.
func (s *scan) ruleGetcap(c *call) {
	if !c.hasShort('r') {
		return
	}
	for _, a := range nonFlagArgs(c) {
		if broadRoot(a.s) || strings.HasPrefix(a.s, "/usr") || strings.HasPrefix(a.s, "/bin") || strings.HasPrefix(a.s, "/sbin") {
			s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "enumerates programs with file capabilities (privilege escalation reconnaissance)")
			return
		}
	}
}

// ruleAccountLock judges locking, expiring or deleting other accounts.
func (s *scan) ruleAccountLock(c *call) {
	if c.has("--help") || c.has("-h") {
		return
	}
	switch c.name {
	case "passwd":
		if (c.hasShort('l') || c.hasShort('e') || c.hasShort('d') || c.has("--lock") || c.has("--expire") || c.has("--delete")) && len(nonFlagArgs(c)) > 0 {
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "locks or expires another account")
		}
	case "userdel", "deluser":
		if len(nonFlagArgs(c)) > 0 {
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "deletes a user account")
		}
	case "chage":
		for i, a := range c.rest() {
			if (a.s == "-E" || a.s == "--expiredate") && i+1 < len(c.rest()) && (c.rest()[i+1].s == "0" || c.rest()[i+1].s == "1") {
				s.flag(CategoryDestructive, SeverityMedium, c.evidence, "expires an account")
			}
		}
	case "usermod":
		if c.has("-L") || c.has("--lock") || c.has("-e") || c.has("--expiredate") {
			s.flag(CategoryDestructive, SeverityMedium, c.evidence, "locks or expires an account")
		}
	}
}

// ruleCaptureDevice judges recording the screen, microphone or camera.
func (s *scan) ruleCaptureDevice(c *call) {
	args := strings.ToLower(strings.Join(argStrings(c.rest()), " "))
	switch c.name {
	case "arecord", "parecord", "rec", "pw-record":
		if c.has("-l") || c.has("-L") || c.has("--list-devices") || c.has("--help") {
			return
		}
		s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "records the microphone")
	case "ffmpeg", "avconv", "gst-launch-1.0", "streamer", "fswebcam", "imagesnap":
		for _, k := range []string{"x11grab", "v4l2", "/dev/video", "alsa", "pulse", "avfoundation", "gdigrab", "dshow", "kmsgrab", "ximagesrc", "pipewiresrc"} {
			if strings.Contains(args, k) || c.name == "fswebcam" || c.name == "imagesnap" {
				s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "records the screen, microphone or camera")
				return
			}
		}
	}
}

// ruleMount judges bind mounts over system files: the file is replaced
// for every program without changing it on disk.
func (s *scan) ruleMount(c *call) {
	if !c.has("--bind") && !c.has("--rbind") && !strings.Contains(strings.Join(argStrings(c.rest()), " "), "bind") {
		return
	}
	args := nonFlagArgs(c)
	if len(args) < 2 {
		return
	}
	src, dst := args[len(args)-2].s, args[len(args)-1].s
	if strings.Contains(src, "bind") {
		return
	}
	if wi, ok := classifyWrite(dst); ok && wi.sev >= SeverityMedium || systemPath(dst) && !strings.HasPrefix(normalizePath(dst), "/var/") && !strings.HasPrefix(normalizePath(dst), "/opt/") {
		s.flag(CategoryDefenseEvasion, SeverityHigh, c.evidence, "replaces "+dst+" by bind-mounting "+src+" over it")
	}
}

// ruleNAT judges firewall rules that redirect traffic to another host.
func (s *scan) ruleNAT(c *call) {
	args := c.rest()
	for i, a := range args {
		if (a.s == "--to-destination" || a.s == "--to") && i+1 < len(args) {
			h, _, _ := strings.Cut(args[i+1].s, ":")
			if host := s.d.classifyHost(h); host.untrusted() {
				s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "redirects traffic to "+host.describe())
			}
		}
	}
}

// sshTunnels judges dynamic (SOCKS) forwarding through a host outside the
// allowlist and local forwards opened on every interface.
func (s *scan) sshTunnels(c *call, host hostInfo) {
	args := c.rest()
	for i, a := range args {
		switch {
		case a.s == "-D" || strings.HasPrefix(a.s, "-D") && len(a.s) > 2:
			if host.untrusted() {
				s.flag(CategoryExfiltration, max(SeverityMedium, host.exfilSeverity()), c.evidence, "opens a SOCKS proxy through "+host.describe())
			}
		case a.s == "-L" && i+1 < len(args) || strings.HasPrefix(a.s, "-L") && len(a.s) > 2:
			spec := strings.TrimPrefix(a.s, "-L")
			if spec == "" {
				spec = args[i+1].s
			}
			if strings.HasPrefix(spec, "0.0.0.0:") || strings.HasPrefix(spec, "*:") || strings.HasPrefix(spec, "[::]:") {
				s.flag(CategoryExfiltration, SeverityMedium, c.evidence, "opens a forwarded port on every interface through "+host.describe())
			}
		}
	}
}

// ruleHistorySearch judges searching shell history for secrets.
func (s *scan) ruleHistorySearch(c *call) {
	next := c.next
	if next == nil || next.name != "grep" && next.name != "egrep" && next.name != "rg" {
		return
	}
	for _, a := range next.rest() {
		l := strings.ToLower(a.s)
		for _, k := range []string{"pass", "token", "secret", "key", "auth", "cred", "pwd"} {
			if strings.Contains(l, k) && !strings.HasPrefix(a.s, "--") {
				s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "searches shell history for secrets")
				return
			}
		}
	}
}

// noteDecodedFile remembers a file written from decoded or escaped data;
// executing it, or making it executable, runs a binary that was hidden
// as text.
func (s *scan) noteDecodedFile(c *call) {
	if c.stdout == "" {
		for i, a := range c.rest() {
			if c.name == "openssl" && a.s == "-out" && i+1 < len(c.rest()) && isDecodeCall(c) {
				s.markDecoded(c.rest()[i+1].s)
			}
		}
		return
	}
	switch {
	case isDecodeCall(c) && c.name != "rev" && c.name != "tr":
		s.markDecoded(c.stdout)
	case c.name == "printf" || c.name == "echo":
		// executable headers written byte by byte
		if o, _, ok := echoOutput(c); ok && (strings.HasPrefix(o, "\x7fELF") || strings.HasPrefix(o, "MZ\x90") || strings.HasPrefix(o, "\xcf\xfa\xed\xfe")) {
			s.markDecoded(c.stdout)
		}
	}
}

func (s *scan) markDecoded(p string) {
	if s.st.decoded == nil {
		s.st.decoded = make(map[string]bool)
	}
	if len(s.st.decoded) < 16 {
		s.st.decoded[cleanPathArg(p)] = true
	}
}

// runsDecoded flags executing, or making executable, a file written from
// decoded data in this command.
func (s *scan) runsDecoded(c *call) {
	if len(s.st.decoded) == 0 {
		return
	}
	if strings.Contains(c.arg(0), "/") && s.st.decoded[cleanPathArg(c.arg(0))] {
		s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "runs a program decoded from text ("+c.arg(0)+")")
		return
	}
	if c.name == "chmod" {
		exec := false
		for _, a := range c.rest() {
			if strings.Contains(a.s, "x") || len(a.s) >= 3 && strings.Trim(a.s, "01234567") == "" && strings.ContainsAny(a.s[len(a.s)-3:], "1357") {
				exec = true
			}
		}
		for _, a := range nonFlagArgs(c) {
			if exec && s.st.decoded[cleanPathArg(a.s)] {
				s.flag(CategoryObfuscation, SeverityHigh, c.evidence, "makes a file decoded from text executable ("+a.s+")")
				return
			}
		}
	}
}
