package anomaly

// This file judges commands hidden in other programs' options and
// environment: pagers, editors, ProxyCommand, tar checkpoint actions,
// make --eval, zip -TT, rsync -e … Each such command is analysed as
// shell code, with root privileges when the host program runs as root,
// so a root shell escape is judged as what it runs. It also holds the
// rules for kernel modules and in-place edits of system files.

import (
	"strings"
)

// commandEnv names environment variables whose value a program runs as
// a shell command.
var commandEnv = map[string]bool{
	"PAGER": true, "GIT_PAGER": true, "MANPAGER": true, "SYSTEMD_PAGER": true, "EDITOR": true, "VISUAL": true,
	"GIT_EDITOR": true, "GIT_SSH_COMMAND": true, "GIT_SSH": true, "GIT_PROXY_COMMAND": true, "RSYNC_RSH": true,
	"GIT_EXTERNAL_DIFF": true, "LESSOPEN": true, "LESSCLOSE": true, "PSQL_PAGER": true, "SUDO_EDITOR": true,
	"BROWSER": true, "GIT_ASKPASS": true, "SSH_ASKPASS": true,
}

// vimCodeCommands are the ex commands that run a line of another
// language, with that language.
var vimCodeCommands = []struct{ prefix, lang string }{
	{"py3 ", "python"}, {"python3 ", "python"}, {"py ", "python"}, {"python ", "python"}, {"pyx ", "python"},
	{"pythonx ", "python"}, {"py3do ", "python"}, {"pydo ", "python"}, {"lua ", "lua"}, {"luado ", "lua"},
	{"perl ", "perl"}, {"ruby ", "ruby"},
}

// optionCommands returns the shell commands c's options and environment
// make it run (code in another language as "lang\x00code"), a name for
// where they come from, and the files those options read and write.
func optionCommands(c *call) (cmds []string, origin string, files, writes []string) {
	add := func(code string) {
		if code = strings.TrimLeft(strings.TrimSpace(code), ";&| "); code != "" && len(cmds) < 8 {
			cmds = append(cmds, code)
		}
	}
	for _, e := range c.env {
		if commandEnv[e.name] && e.val.s != "" {
			add(e.val.s)
			origin = e.name
		}
	}
	args := c.rest()
	val := func(i int, long string) (string, bool) {
		a := args[i].s
		if v, ok := strings.CutPrefix(a, long+"="); ok {
			return v, true
		}
		if a == long && i+1 < len(args) {
			return args[i+1].s, true
		}
		return "", false
	}
	for i, a := range args {
		switch c.name {
		case "tar", "gtar", "bsdtar":
			for _, o := range []string{"--to-command", "--use-compress-program", "--rsh-command", "--info-script", "--new-volume-script", "-I", "-F"} {
				if v, ok := val(i, o); ok {
					add(v)
				}
			}
			if v, ok := strings.CutPrefix(a.s, "--checkpoint-action="); ok {
				if x, ok := strings.CutPrefix(v, "exec="); ok {
					add(x)
				}
			}
		case "zip":
			if v, ok := val(i, "-TT"); ok {
				add(v)
			}
			if v, ok := val(i, "--unzip-command"); ok {
				add(v)
			}
		case "ssh", "scp", "sftp":
			var opt string
			switch {
			case a.s == "-o" && i+1 < len(args):
				opt = args[i+1].s
			case strings.HasPrefix(a.s, "-o") && len(a.s) > 2:
				opt = a.s[2:]
			}
			k, v, ok := strings.Cut(opt, "=")
			if !ok {
				k, v, _ = strings.Cut(opt, " ")
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "proxycommand", "localcommand", "knownhostscommand":
				add(v)
			}
			if c.name != "ssh" && a.s == "-S" && i+1 < len(args) {
				add(args[i+1].s)
			}
		case "rsync":
			for _, o := range []string{"-e", "--rsh", "--rsync-path"} {
				if v, ok := val(i, o); ok {
					add(v)
				}
			}
		case "git":
			if a.s == "-c" && i+1 < len(args) {
				k, v, _ := strings.Cut(args[i+1].s, "=")
				switch k = strings.ToLower(k); {
				case k == "core.pager" || k == "core.sshcommand" || k == "core.editor" || k == "core.fsmonitor" ||
					k == "diff.external" || k == "sequence.editor" || k == "credential.helper" && strings.HasPrefix(v, "!"):
					add(strings.TrimPrefix(v, "!"))
				case strings.HasPrefix(k, "alias.") && strings.HasPrefix(v, "!"):
					add(v[1:])
				}
			}
		case "man":
			for _, o := range []string{"-P", "--pager", "-H", "--html"} {
				if v, ok := val(i, o); ok {
					add(v)
				}
			}
		case "make", "gmake":
			var text string
			if v, ok := val(i, "--eval"); ok {
				text = v
			} else if v, ok := val(i, "-E"); ok {
				text = v
			}
			files = append(files, makeFileReads(text)...)
			for _, line := range strings.Split(text, "\n") {
				if strings.HasPrefix(line, "\t") {
					add(strings.TrimLeft(line, "\t@-+"))
				}
				if j := strings.Index(line, "$(shell "); j >= 0 {
					add(strings.TrimSuffix(line[j+len("$(shell "):], ")"))
				}
			}
		case "script":
			if v, ok := val(i, "-c"); ok {
				add(v)
			} else if v, ok := val(i, "--command"); ok {
				add(v)
			}
		case "gdb":
			if i > 0 && (args[i-1].s == "-ex" || args[i-1].s == "--eval-command" || args[i-1].s == "-iex") {
				v := strings.TrimSpace(a.s)
				for _, p := range []string{"python3 ", "python ", "py ", "pi "} {
					if code, ok := strings.CutPrefix(v, p); ok {
						add("python\x00" + code)
					}
				}
				if code, ok := strings.CutPrefix(v, "shell "); ok {
					add(code)
				}
				if code, ok := strings.CutPrefix(v, "!"); ok {
					add(code)
				}
			}
		case "vim", "vi", "nvim", "ex", "view", "vimdiff", "rvim", "rview", "less", "more", "ftp", "mysql", "psql", "sqlite3", "lftp":
			v := a.s
			if i > 0 && (args[i-1].s == "-c" || args[i-1].s == "-ex" || args[i-1].s == "--cmd" || args[i-1].s == "-e" || args[i-1].s == "--eval-command") {
				v = a.s
			} else if !strings.HasPrefix(v, "+") {
				continue
			}
			v = strings.TrimLeft(strings.TrimPrefix(v, "+"), ": ")
			// ex commands that read or write files
			if verb, file, ok := strings.Cut(v, " "); ok && !strings.ContainsAny(file, "|") {
				file = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(file), ">>"))
				switch strings.TrimSuffix(verb, "!") {
				case "r", "read", "e", "edit", "sp", "split", "vs", "vsplit", "tabe", "tabedit", "view", "so", "source":
					files = append(files, file)
				case "w", "write", "sav", "saveas", "wq", "x":
					writes = append(writes, file)
				}
			}
			for _, p := range vimCodeCommands {
				if code, ok := strings.CutPrefix(v, p.prefix); ok {
					add(p.lang + "\x00" + code)
				}
			}
			switch {
			case v == "sh" || v == "shell" || v == "terminal" || v == "term":
				add("sh")
			case strings.HasPrefix(v, "!"):
				add(v[1:])
			case strings.HasPrefix(v, "shell "):
				add(v[len("shell "):])
			case strings.HasPrefix(v, "call system("):
				add(strings.Trim(strings.TrimSuffix(strings.TrimPrefix(v, "call system("), ")"), `'"`))
			}
		}
	}
	// database and file-transfer clients run "!cmd", ".shell cmd" or
	// "\\! cmd" given as an option or on their standard input
	switch c.name {
	case "sqlite3", "mysql", "mariadb", "psql", "ftp", "lftp", "sftp", "tftp", "gdb", "cqlsh", "sqlcmd", "ed", "red", "ex", "vim", "vi":
		var lines []string
		for i, a := range args {
			if c.name == "sqlite3" || i > 0 && (args[i-1].s == "-e" || args[i-1].s == "--execute" || args[i-1].s == "-c" || args[i-1].s == "--command" || args[i-1].s == "-ex") {
				lines = append(lines, a.s)
			}
		}
		if text, ok := c.pipeIn(); ok {
			lines = append(lines, strings.Split(text, "\n")...)
		}
		for _, l := range lines {
			l = strings.TrimSpace(l)
			for _, p := range []string{".shell ", ".system ", "\\! ", "\\!", "system ", "!"} {
				if rest, ok := strings.CutPrefix(l, p); ok && strings.TrimSpace(rest) != "" && !(p == "system " && c.name != "mysql" && c.name != "mariadb") {
					add(rest)
					break
				}
			}
		}
	}
	if origin == "" {
		origin = c.name + " option"
	}
	return cmds, origin, files, writes
}

// makeFileReads returns the files a make snippet reads with $(file <F).
func makeFileReads(text string) []string {
	var out []string
	for i := 0; i < 4; i++ {
		j := strings.Index(text, "$(file <")
		if j < 0 {
			break
		}
		text = text[j+len("$(file <"):]
		end := strings.IndexAny(text, ") ,")
		if end < 0 {
			end = len(text)
		}
		out = append(out, strings.TrimSpace(text[:end]))
	}
	return out
}

// watchCommand returns the index of watch's command and whether it is
// run directly (-x) rather than through sh -c.
func watchCommand(c *call) (int, bool) {
	i, exec := 1, false
	for i < len(c.args) && strings.HasPrefix(c.args[i].s, "-") {
		switch c.args[i].s {
		case "-n", "--interval", "-q", "--equexit":
			i++
		case "-x", "--exec":
			exec = true
		}
		i++
	}
	return i, exec
}

func (s *scan) ruleWatch(c *call) {
	if i, _ := watchCommand(c); i < len(c.args) {
		s.nested(strings.Join(argStrings(c.args[i:]), " "), "watch")
	}
}

// ruleOptionCommands analyses the commands hidden in c's options.
func (s *scan) ruleOptionCommands(c *call) {
	cmds, origin, files, writes := optionCommands(c)
	for _, f := range files {
		s.readPath(c, f, roleReader, nil)
	}
	for _, f := range writes {
		s.writeTo(c, f, false)
	}
	saved := s.escape
	s.escape = origin
	defer func() { s.escape = saved }()
	for _, code := range cmds {
		if c.sudo {
			s.flag(CategoryPrivilegeEscalation, SeverityMedium, c.evidence, "runs a command as root through "+origin)
		}
		if lang, src, ok := strings.Cut(code, "\x00"); ok {
			s.code(c, lang, src, origin)
			continue
		}
		s.nested(code, origin)
	}
}

// ruleKernelModule judges loading and unloading kernel modules.
func (s *scan) ruleKernelModule(c *call) {
	remove := c.name == "rmmod" || c.has("-r") || c.has("--remove")
	switch {
	case c.name == "modprobe" && (c.has("-c") || c.has("--showconfig") || c.has("-n") || c.has("--dry-run") || c.has("--show-depends") || c.has("-D") || c.has("-R") || c.has("--resolve-alias")):
		return
	case c.name == "kmod" && c.arg(1) != "load" && c.arg(1) != "insert":
		return
	case remove:
		sev := SeverityMedium
		for _, a := range c.rest() {
			if securityModule(a.s) {
				sev = SeverityHigh
			}
		}
		s.flag(CategoryDefenseEvasion, sev, c.evidence, "unloads a kernel module")
	default:
		sev := SeverityHigh
		for _, a := range c.rest() {
			if hiddenOrTemp(a.s) {
				sev = SeverityCritical
			}
		}
		s.flag(CategoryPrivilegeEscalation, sev, c.evidence, "loads a kernel module (code running in the kernel)")
	}
}

func securityModule(name string) bool {
	n := strings.ToLower(name)
	for _, k := range []string{"apparmor", "selinux", "audit", "lsm", "yama", "lockdown", "integrity", "ima", "tomoyo", "smack", "falco"} {
		if strings.Contains(n, k) {
			return true
		}
	}
	return false
}

// ruleInPlace judges editors that change files in place (sed -i, perl
// -pi, ed, ex): each file they edit is written.
func (s *scan) ruleInPlace(c *call) {
	args := c.rest()
	inPlace := false
	switch c.name {
	case "sed", "gsed":
		for _, a := range args {
			if a.s == "--in-place" || strings.HasPrefix(a.s, "--in-place=") || len(a.s) >= 2 && a.s[0] == '-' && a.s[1] != '-' && strings.Contains(a.s[1:], "i") && !strings.Contains(a.s[1:], "e") {
				inPlace = true
			}
			if a.s == "-i" || strings.HasPrefix(a.s, "-i") {
				inPlace = true
			}
		}
	case "perl", "ruby":
		for _, a := range args {
			if strings.HasPrefix(a.s, "-") && strings.Contains(a.s, "i") && (strings.Contains(a.s, "p") || strings.Contains(a.s, "n")) {
				inPlace = true
			}
		}
	}
	if !inPlace {
		return
	}
	// the last non-option arguments are the files; the first is the script
	files := nonFlagArgs(c)
	hasScript := !c.has("-e") && !c.has("--expression") && !c.has("-f")
	for i, a := range files {
		if i == 0 && hasScript {
			continue
		}
		s.writeTo(c, a.s, false)
	}
}
