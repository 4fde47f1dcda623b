package anomaly

// This file holds the rules for cloud CLIs, git and database clients.

import (
	"strings"
)

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
		for i, a := range rest {
			if a.s == "credential.helper" && i+1 < len(rest) && strings.HasPrefix(rest[i+1].s, "store") {
				s.flag(CategoryCredentialAccess, SeverityMedium, c.evidence, "makes git keep credentials in a plaintext file")
			}
			if strings.Contains(a.s, "credential") && (c.has("--get") || c.has("--get-all") || c.has("--list") || c.has("-l")) {
				s.flag(CategoryCredentialAccess, SeverityLow, c.evidence, "reads git credential configuration")
			}
			if strings.HasPrefix(a.s, "core.hooksPath") {
				// hooks kept in the repository (.githooks) are ordinary;
				// hooks from elsewhere run code the repository does not show
				v := c.arg(len(c.args) - 1)
				sev := SeverityMedium
				switch {
				case v == a.s || v == "" || strings.HasPrefix(v, "-"):
					sev = SeverityLow
				case systemPath(v) || c.has("--global") || c.has("--system"):
					sev = SeverityHigh
				case !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "~") && !strings.Contains(v, ".."):
					sev = SeverityLow
				}
				s.flag(CategoryPersistence, sev, c.evidence, "makes git run hooks from "+v)
			} else if strings.HasPrefix(a.s, "core.sshCommand") || strings.HasPrefix(a.s, "core.fsmonitor") {
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
