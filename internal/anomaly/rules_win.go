package anomaly

// (Named rules_win.go: a _windows.go suffix would build it on Windows only.)

// This file judges Windows commands: download cradles, encoded and
// proxied execution, Run keys, services and scheduled tasks, SAM and
// LSASS dumps, Defender, firewall and event-log tampering, and accounts.
// Windows command lines are judged on their raw text, lowercased, as
// their backslashed paths do not survive shell parsing.

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
)

// windowsTools are the programs ruleWindows judges, by lowercase name
// without ".exe".
var windowsTools = map[string]bool{
	"certutil": true, "bitsadmin": true, "mshta": true, "regsvr32": true, "rundll32": true, "msiexec": true, "wmic": true,
	"schtasks": true, "reg": true, "sc": true, "net": true, "net1": true, "procdump": true, "procdump64": true, "cmdkey": true,
	"vaultcmd": true, "findstr": true, "ntdsutil": true, "wevtutil": true, "netsh": true, "fsutil": true, "auditpol": true,
	"cipher": true, "copy": true, "xcopy": true, "move": true, "robocopy": true, "cmd": true, "forfiles": true, "pcalua": true,
	"cscript": true, "wscript": true, "installutil": true, "msbuild": true, "regasm": true, "regsvcs": true, "hh": true,
	"esentutl": true, "expand": true, "extrac32": true, "mavinject": true, "odbcconf": true, "cmstp": true,
}

// winName returns c's program name, lowercased and without ".exe".
func winName(c *call) string {
	n := strings.ToLower(c.name)
	return strings.TrimSuffix(n, ".exe")
}

// winDrop reports whether lowercased text names a directory where
// dropped payloads live on Windows.
func winDrop(low string) bool {
	for _, d := range []string{`users\public`, `\temp\`, `%temp%`, `$env:temp`, `\appdata\`, `%appdata%`, `$env:appdata`, `%localappdata%`,
		`\programdata\`, `c:\temp`, `\windows\tasks`, `\perflogs`, `users/public`, `/temp/`, `/appdata/`} {
		if strings.Contains(low, d) {
			return true
		}
	}
	return false
}

// firstURL returns the first http(s) or ftp URL in text.
func firstURL(text string) string {
	for _, p := range []string{"http://", "https://", "ftp://", `\\`} {
		i := strings.Index(strings.ToLower(text), p)
		if i < 0 || p == `\\` {
			continue
		}
		end := i
		for end < len(text) && !strings.ContainsRune(" \t\n'\"`)(;|&<>,", rune(text[end])) {
			end++
		}
		return text[i:end]
	}
	return ""
}

// winDownload flags a Windows program told to fetch a URL.
func (s *scan) winDownload(c *call, tool string, exec bool) {
	u := firstURL(c.evidence)
	if u == "" {
		return
	}
	host := s.d.inspectURL(u).host
	switch {
	case exec:
		s.flag(CategoryDownloadExec, host.downloadExecSeverity(), c.evidence, tool+" runs code fetched from "+host.describe())
	case host.untrusted():
		s.flag(CategoryDownloadExec, max(SeverityMedium, host.downloadExecSeverity()-1), c.evidence, tool+" downloads a file from "+host.describe())
	}
}

// ruleWindows judges one Windows command.
func (s *scan) ruleWindows(c *call) {
	low := strings.ToLower(c.evidence)
	ev := c.evidence
	has := func(subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(low, x) {
				return true
			}
		}
		return false
	}
	switch winName(c) {
	case "certutil":
		switch {
		case has("-urlcache", "/urlcache", "-verifyctl", "-split -f http"):
			s.winDownload(c, "certutil", false)
		case has("-decode", "/decode", "-decodehex"):
			sev := SeverityMedium
			if winDrop(low) || has(".exe", ".dll", ".ps1", ".bat", ".vbs") {
				sev = SeverityHigh
			}
			s.flag(CategoryObfuscation, sev, ev, "certutil decodes a payload from text")
		}
	case "bitsadmin":
		if has("/transfer", "/addfile", "/download") {
			s.winDownload(c, "bitsadmin", false)
		}
		if has("/setnotifycmdline") {
			s.flag(CategoryPersistence, SeverityHigh, ev, "bitsadmin runs a command when a job completes")
		}
	case "mshta":
		switch {
		case has("javascript:", "vbscript:"):
			s.flag(CategoryObfuscation, SeverityHigh, ev, "mshta runs inline script")
		case firstURL(ev) != "":
			s.winDownload(c, "mshta", true)
		case winDrop(low):
			s.flag(CategoryObfuscation, SeverityMedium, ev, "mshta runs an HTML application from a drop directory")
		}
	case "regsvr32":
		if has("/i:http", "-i:http", "scrobj") {
			s.flag(CategoryDownloadExec, SeverityHigh, ev, "regsvr32 runs a remote or script component")
		} else if winDrop(low) {
			s.flag(CategoryObfuscation, SeverityMedium, ev, "regsvr32 loads a DLL from a drop directory")
		}
	case "rundll32":
		switch {
		case has("comsvcs") && has("minidump"):
			s.flag(CategoryCredentialAccess, SeverityCritical, ev, "dumps a process's memory with comsvcs.dll (LSASS credentials)")
		case has("javascript:", "vbscript:", "mshtml,runhtmlapplication"):
			s.flag(CategoryObfuscation, SeverityHigh, ev, "rundll32 runs inline script")
		case has("url.dll,", "ieframe.dll,", "shdocvw.dll,") && firstURL(ev) != "":
			s.winDownload(c, "rundll32", true)
		case winDrop(low):
			s.flag(CategoryObfuscation, SeverityMedium, ev, "rundll32 runs a DLL from a drop directory")
		}
	case "msiexec":
		if has("/i", "/package", "-i ") && firstURL(ev) != "" {
			s.winDownload(c, "msiexec", true)
		}
	case "wmic":
		switch {
		case has("shadowcopy") && has("delete"):
			s.flag(CategoryDestructive, SeverityHigh, ev, "deletes shadow copies (blocks recovery)")
		case has("process") && has("call create"):
			sev := SeverityMedium
			if winDrop(low) || has("/node:", "powershell", "http") {
				sev = SeverityHigh
			}
			s.flag(CategoryPrivilegeEscalation, sev, ev, "starts a process through WMI")
		}
	case "schtasks":
		if has("/create", "-create") {
			sev := SeverityMedium
			if winDrop(low) || has("/ru system", "powershell", "cmd /c", "cmd.exe /c", "http", "mshta", "rundll32", "regsvr32") {
				sev = SeverityHigh
			}
			s.flag(CategoryPersistence, sev, ev, "creates a scheduled task")
		}
	case "reg":
		op := strings.ToLower(c.arg(1))
		switch {
		case (op == "save" || op == "export") && has(`hklm\sam`, `hklm\system`, `hklm\security`, "hklmsam", "hklmsystem", "hklmsecurity", `hkey_local_machine\sam`, `hkey_local_machine\system`):
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "saves the SAM, SYSTEM or SECURITY hive (password hashes)")
		case op == "add" && has("currentversion\\run", "currentversionrun", "winlogon", "image file execution options", "imagefileexecutionoptions", "appinit_dlls", "userinit", "\\services\\", "explorer\\shell folders", "startupapproved"):
			s.flag(CategoryPersistence, SeverityHigh, ev, "adds an autostart or debugger entry to the registry")
		case op == "add" && has("disableantispyware", "disablerealtimemonitoring", "disablebehaviormonitoring", "tamperprotection", "enablelua", "disableantivirus"):
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "turns off Defender or UAC in the registry")
		}
	case "sc":
		op := strings.ToLower(c.arg(1))
		if strings.HasPrefix(op, `\\`) {
			op = strings.ToLower(c.arg(2))
		}
		switch {
		case op == "create" || op == "config" && has("binpath"):
			sev := SeverityMedium
			if winDrop(low) || has("powershell", "cmd /c", "cmd.exe /c") {
				sev = SeverityHigh
			}
			s.flag(CategoryPersistence, sev, ev, "installs or repoints a Windows service")
		case (op == "stop" || op == "delete" || op == "config") && has("windefend", "sense", "wdnissvc", "eventlog", "mpssvc", "wscsvc", "sysmon"):
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "stops or disables a Windows security service")
		}
	case "net", "net1":
		switch {
		case has("localgroup") && has("administrators", "remote desktop users") && has("/add"):
			s.flag(CategoryPersistence, SeverityHigh, ev, "adds an account to an administrative group")
		case has(" user ") && has("/add"):
			s.flag(CategoryPersistence, SeverityMedium, ev, "creates a Windows account")
		case has(" user ") && has("/active:yes") && has("administrator", "guest"):
			s.flag(CategoryPersistence, SeverityHigh, ev, "enables a built-in account")
		}
	case "procdump", "procdump64":
		if has("lsass") {
			s.flag(CategoryCredentialAccess, SeverityCritical, ev, "dumps LSASS memory (Windows credentials)")
		}
	case "cmdkey":
		if has("/list") {
			s.flag(CategoryCredentialAccess, SeverityMedium, ev, "lists stored Windows credentials")
		}
	case "vaultcmd":
		if has("/listcreds") {
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "lists credentials in the Windows vault")
		}
	case "findstr":
		if has("/s") && has("password", "passwd", "pwd=", "credential", "secret") {
			s.flag(CategoryCredentialAccess, SeverityMedium, ev, "searches files for passwords")
		}
	case "ntdsutil":
		if has("ifm") {
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "copies the Active Directory database")
		}
	case "wevtutil":
		if op := strings.ToLower(c.arg(1)); op == "cl" || op == "clear-log" || op == "sl" && has("/e:false") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "clears or disables a Windows event log")
		}
	case "netsh":
		switch {
		case has("state off", "opmode disable", "opmode=disable"):
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "turns the Windows firewall off")
		case has("key=clear"):
			s.flag(CategoryCredentialAccess, SeverityHigh, ev, "prints saved Wi-Fi passwords")
		case has("portproxy") && has("add"):
			s.flag(CategoryExfiltration, SeverityMedium, ev, "forwards a port to another host")
		}
	case "fsutil":
		if has("usn") && has("deletejournal") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "deletes the file system change journal")
		}
	case "auditpol":
		if has("/clear", "/remove", ":disable") {
			s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "turns Windows auditing off")
		}
	case "cipher":
		if has("/w") {
			s.flag(CategoryDestructive, SeverityMedium, ev, "wipes free disk space (destroys deleted files)")
		}
	case "copy", "xcopy", "move", "robocopy":
		if has(`start menu\programs\startup`, "startmenuprogramsstartup", `\startup\`) {
			s.flag(CategoryPersistence, SeverityHigh, ev, "puts a program in the Startup folder")
		}
	case "cmd":
		for i, a := range c.rest() {
			if l := strings.ToLower(a.s); (l == "/c" || l == "/k" || l == "/r") && i+1 < len(c.rest()) {
				s.nested(strings.Join(argStrings(c.rest()[i+1:]), " "), "cmd /c") // cmd takes the rest of the line as one command line
				return
			}
		}
	case "forfiles":
		s.flag(CategoryObfuscation, SeverityLow, ev, "runs a command for each file (forfiles)")
		if has("/c") && (winDrop(low) || has("powershell", "http", "calc", "cmd /c")) {
			s.flag(CategoryObfuscation, SeverityMedium, ev, "forfiles runs a command on behalf of another program")
		}
	case "pcalua", "mavinject", "odbcconf", "cmstp", "installutil", "regasm", "regsvcs":
		s.flag(CategoryObfuscation, SeverityMedium, ev, winName(c)+" runs code on behalf of another program (proxy execution)")
	case "msbuild", "cscript", "wscript", "hh":
		if winDrop(low) || has("//e:", "/e:", "http://", "https://") {
			s.flag(CategoryObfuscation, SeverityMedium, ev, winName(c)+" runs a script from a drop directory or a URL")
		}
	case "esentutl", "expand", "extrac32":
		if firstURL(ev) != "" || has(`\\`) && winDrop(low) {
			s.winDownload(c, winName(c), false)
		}
	}
}

// powerShellCode returns the code a PowerShell command line runs and
// whether it was base64-encoded.
func powerShellCode(c *call) (code string, encoded bool, file string) {
	args := c.rest()
	for i := 0; i < len(args); i++ {
		a := strings.ToLower(args[i].s)
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") {
			return strings.Join(argStrings(args[i:]), " "), false, ""
		}
		name := strings.TrimLeft(a, "-/")
		switch {
		case name == "c" || name == "co" || name == "com" || strings.HasPrefix(name, "comm"):
			return strings.Join(argStrings(args[min(i+1, len(args)):]), " "), false, ""
		case name == "e" || name == "ec" || strings.HasPrefix(name, "en"):
			if i+1 < len(args) {
				if dec, ok := decodePowerShell(args[i+1].s); ok {
					return dec, true, ""
				}
				return args[i+1].s, true, ""
			}
		case name == "f" || strings.HasPrefix(name, "fi"):
			if i+1 < len(args) {
				return "", false, args[i+1].s
			}
		case name == "w" || strings.HasPrefix(name, "win") || name == "ep" || strings.HasPrefix(name, "exec") || name == "ex" ||
			name == "v" || name == "version" || strings.HasPrefix(name, "config") || strings.HasPrefix(name, "psc") || strings.HasPrefix(name, "outputf") || strings.HasPrefix(name, "inputf"):
			i++ // takes a value
		}
	}
	return "", false, ""
}

// decodePowerShell decodes -EncodedCommand text (base64 of UTF-16LE).
func decodePowerShell(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) < 2 || len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), true
}

// powerShellVerbs are the approved verbs cmdlet names start with.
var powerShellVerbs = []string{"get-", "set-", "new-", "add-", "remove-", "clear-", "invoke-", "start-", "stop-", "register-",
	"import-", "export-", "install-", "uninstall-", "enable-", "disable-", "copy-", "out-", "convertto-", "convertfrom-"}

// powerShellCmdlet reports whether a command name is a PowerShell cmdlet
// or one of its download and execution aliases.
func powerShellCmdlet(name string) bool {
	l := strings.ToLower(name)
	switch l {
	case "iex", "iwr", "irm":
		return true
	}
	for _, v := range powerShellVerbs {
		if strings.HasPrefix(l, v) && len(l) > len(v) && name[0] >= 'A' && name[0] <= 'Z' {
			return true
		}
	}
	return false
}

// rulePowerShell judges powershell and pwsh command lines.
func (s *scan) rulePowerShell(c *call) {
	low := strings.ToLower(c.evidence)
	ev := c.evidence
	code, encoded, file := powerShellCode(c)
	hidden := strings.Contains(low, "hidden")
	bypass := strings.Contains(low, "bypass") || strings.Contains(low, " unrestricted")
	if encoded {
		s.flag(CategoryObfuscation, SeverityHigh, ev, "runs base64-encoded PowerShell")
	}
	if file != "" && (winDrop(strings.ToLower(file)) || hidden && bypass) {
		s.flag(CategoryObfuscation, SeverityMedium, ev, "runs a PowerShell script hidden or from a drop directory")
	} else if hidden && bypass {
		s.flag(CategoryObfuscation, SeverityMedium, ev, "runs PowerShell with a hidden window and no execution policy")
	}
	if code == "" {
		return
	}
	s.powerShellCode(c, code)
}

// powerShellCode judges PowerShell code by what it can do.
func (s *scan) powerShellCode(c *call, code string) {
	ev := c.evidence
	l := strings.ToLower(code)
	has := func(subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(l, x) {
				return true
			}
		}
		return false
	}
	fetch := has("downloadstring", "downloadfile", "downloaddata", "invoke-webrequest", "iwr ", "invoke-restmethod", "irm ", "start-bitstransfer", "net.webclient", "wget ", "curl ")
	exec := has("iex", "invoke-expression", "start-process", "invoke-command", "[scriptblock]::create", "& (", "&(", ".invoke(")
	switch {
	case has("tcpclient", "net.sockets") && exec:
		s.flag(CategoryReverseShell, SeverityCritical, ev, "connects a socket to a PowerShell command loop")
	case fetch:
		s.winDownload(&call{evidence: code}, "PowerShell", exec)
	}
	if has("frombase64string") && exec {
		s.flag(CategoryObfuscation, SeverityHigh, ev, "decodes and runs hidden PowerShell")
	}
	if has("set-mppreference") && has("disable", "$true") || has("add-mppreference") && has("exclusion") || has("uninstall-windowsfeature windows-defender") {
		s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "weakens Microsoft Defender")
	}
	if has("clear-eventlog", "remove-eventlog", "wevtutil cl", "limit-eventlog") {
		s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "clears Windows event logs")
	}
	if has("set-netfirewallprofile") && has("false") {
		s.flag(CategoryDefenseEvasion, SeverityHigh, ev, "turns the Windows firewall off")
	}
	if has("currentversion\\run", "currentversion\\runonce") && has("set-itemproperty", "new-itemproperty", "sp ") {
		s.flag(CategoryPersistence, SeverityHigh, ev, "adds a Run key")
	}
	if has("register-scheduledtask", "new-scheduledtask") {
		s.flag(CategoryPersistence, SeverityMedium, ev, "creates a scheduled task")
	}
	if has("new-service") {
		s.flag(CategoryPersistence, SeverityMedium, ev, "creates a Windows service")
	}
	if has("new-localuser") || has("add-localgroupmember") && has("administrators") {
		s.flag(CategoryPersistence, SeverityHigh, ev, "creates or promotes a local account")
	}
	if has("lsass") && has("minidump", "out-minidump", "procdump") || has("mimikatz", "sekurlsa", "invoke-kerberoast", "get-gpppassword") {
		s.flag(CategoryCredentialAccess, SeverityCritical, ev, "dumps Windows credentials")
	}
	if has("convertfrom-securestring", "get-storedcredential", "cmdkey /list", "vaultcmd") {
		s.flag(CategoryCredentialAccess, SeverityMedium, ev, "reads stored Windows credentials")
	}
	if has("vssadmin delete", "win32_shadowcopy") && has("delete") {
		s.flag(CategoryDestructive, SeverityHigh, ev, "deletes shadow copies (blocks recovery)")
	}
}
