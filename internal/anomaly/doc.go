// Package anomaly judges the built-in tool calls of a Claude agent (bash,
// read, write, edit, glob, grep, web_fetch, web_search) for behaviour that
// should stop a session: destructive commands, download-and-execute,
// reverse shells, credential access, exfiltration, privilege escalation,
// obfuscation, network scanning, persistence, defence evasion, sensitive
// paths, path traversal and untrusted hosts.
//
// Shell commands are parsed with mvdan.cc/sh/v3 rather than matched with
// regular expressions. Words are resolved (quotes, escapes, $'…',
// variables assigned earlier in the command, $IFS, brace expansion,
// statically computable $(echo …) and base64/hex/rot13/rev decodings), so
// r""m -rf /, a=r;b=m;$a$b, {cat,/etc/shadow} and echo … | base64 -d | sh
// are judged by what they run. Unquoted expansions are split on $IFS and
// known arrays expanded, as the shell does. Wrappers (sudo, env, timeout,
// nohup, xargs, busybox, systemd-run …) are stripped, and code that runs
// further code is analysed recursively: bash -c, eval, aliases,
// here-documents, ssh remote commands, docker/kubectl exec, decoded
// payloads, files written and then run or compiled, commands carried in
// options and environment (pagers, editors, ProxyCommand, tar checkpoint
// actions, make --eval, zip -TT, rsync -e, script -c), and the inline
// code of interpreters (python, perl, ruby, node, deno, bun, php, lua,
// awk, tcl, R, julia, jrunscript …), judged by its capabilities (a
// network socket plus process execution is a shell, whatever the
// spelling). Code run by a root wrapper is analysed as root, so a shell
// escape through a pager or an interpreter is a root shell. A command
// that does not parse is itself a low-severity obfuscation finding, and
// is then analysed line by line.
//
// Usage:
//
//	d := anomaly.New(anomaly.Config{AllowedDomains: profile.AllowedDomains})
//	score := anomaly.NewSessionScore(anomaly.RiskLevel(profile.RiskLevel))
//	…
//	v := d.Analyze(event.Name, event.Input)   // Verdict{Flags, Severity, Score}
//	if _, crossed := score.Add(v, event.ProcessedAt); crossed {
//		// interrupt the session
//	}
//
// A Verdict lists Flags (category, severity, explanation, evidence); its
// Severity is the worst flag's, and severity medium or above counts as
// flagged. Its Score sums, per category, the weight of the worst flag.
// SessionScore accumulates scores with exponential decay (DefaultHalfLife)
// and reports when the threshold of the profile's risk level is crossed
// (ThresholdStrict, ThresholdStandard, ThresholdPermissive). The caller
// performs the interrupt. It also remembers what matters across calls:
// SessionScore.Judge (which Add uses) raises a send to an untrusted host
// after an earlier credential read to a high exfiltration finding, and
// gives the call that runs a script written earlier by a file tool the
// findings about that script.
//
// RunLines reads tool-use events as JSON lines and writes one verdict per
// line; the vargate anomaly command is a thin wrapper around it.
//
// Quality: the labelled corpus in testdata/ (shell_*.txt, tools_*.jsonl)
// must be classified with precision and recall of at least 0.95 each
// (flagged = severity ≥ medium, positive = malicious), enforced by
// TestCorpus. Two holdout sets (holdout_shell.txt, holdout2_shell.txt),
// each committed before its first measurement, estimate how the rules
// generalise; TestHoldout holds them at 0.85, and docs/BENCHMARKS.md
// records their first, blind figures. testdata/families holds one corpus
// per technique family (privilege wrappers, interpreter shells,
// exfiltration channels, credential stores, anti-forensics, persistence,
// indirection, session sequences, shell escapes, capabilities,
// reconnaissance and impact, Windows) with benign look-alikes, two
// benign-only sets and further holdout sets; TestFamilies holds each
// family to its bars. Windows command lines (cmd, PowerShell, the
// living-off-the-land programs) are judged on their raw text, including
// decoded -EncodedCommand payloads.
//
// Detectors are immutable and safe for concurrent use. Nothing is
// compiled per call; a call costs about 40 allocations, mostly the parse.
// Analysis never panics on odd input (FuzzAnalyze).
//
// The package imports only the root vargate package (for error kinds)
// and mvdan.cc/sh; it must not import storage, HTTP or other capability
// packages. Audit of verdicts is the caller's concern.
package anomaly
