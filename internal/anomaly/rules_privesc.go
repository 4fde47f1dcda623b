package anomaly

// This file holds the privilege-escalation rules: sudo, su, capabilities,
// accounts, namespaces and containers.

import (
	"path"
	"strings"
)

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
		if c.has("-c") || c.has("--check") {
			return
		}
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
	inner.sudo = false
	s.inContainer(func() { s.analyzeCall(inner) })
}

// inContainer runs f for a command that runs inside a container: root
// there is not root here, and a shell there is not a shell escape.
func (s *scan) inContainer(f func()) {
	root, esc := s.root, s.escape
	s.root, s.escape = false, ""
	f()
	s.root, s.escape = root, esc
}

func (s *scan) ruleKubectl(c *call) {
	args := c.rest()
	sub := c.arg(1)
	switch sub {
	case "exec":
		if j := indexOf(args, "--"); j >= 0 && j+1 < len(args) {
			inner := s.synthCall(c, argStrings(args[j+1:]))
			inner.sudo = false
			s.inContainer(func() { s.analyzeCall(inner) })
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
					if o := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(v, "--output="), "-o"), "="); o != "name" && o != "wide" &&
						!(strings.HasPrefix(o, "jsonpath") || strings.HasPrefix(o, "go-template") || strings.HasPrefix(o, "custom-columns")) || strings.Contains(o, ".data") || strings.Contains(o, "stringData") {
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
