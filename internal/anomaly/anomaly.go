package anomaly

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/vargate/vargate"
)

// Severity grades a finding. Medium and above count as flagged.
type Severity int

// The severities, lowest first.
const (
	SeverityNone Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"none", "low", "medium", "high", "critical"}

// String returns the lowercase name of s ("none" … "critical").
func (s Severity) String() string {
	if s < SeverityNone || s > SeverityCritical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// MarshalText encodes s as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity returns the severity named s.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return SeverityNone, vargate.Invalid("severity", "unknown severity %q (want none, low, medium, high or critical)", s)
}

// Weight is what one finding of severity s adds to a score.
func (s Severity) Weight() float64 {
	switch s {
	case SeverityLow:
		return 0.05
	case SeverityMedium:
		return 0.35
	case SeverityHigh:
		return 0.7
	case SeverityCritical:
		return 1.5
	}
	return 0
}

// Category names the kind of behaviour a finding describes.
type Category string

// The categories.
const (
	CategoryDestructive         Category = "destructive"
	CategoryDownloadExec        Category = "download_exec"
	CategoryReverseShell        Category = "reverse_shell"
	CategoryCredentialAccess    Category = "credential_access"
	CategoryExfiltration        Category = "exfiltration"
	CategoryPrivilegeEscalation Category = "privilege_escalation"
	CategoryObfuscation         Category = "obfuscation"
	CategoryNetworkScan         Category = "network_scan"
	CategoryPersistence         Category = "persistence"
	CategoryDefenseEvasion      Category = "defense_evasion"
	CategorySensitivePath       Category = "sensitive_path"
	CategoryPathTraversal       Category = "path_traversal"
	CategoryUntrustedHost       Category = "untrusted_host"
)

// Flag is one finding about a tool call.
type Flag struct {
	Category    Category `json:"category"`
	Severity    Severity `json:"severity"`
	Explanation string   `json:"explanation"`
	// Evidence is the part of the input the finding is about, shortened
	// to at most maxEvidence bytes. It may contain secrets the agent was
	// handling; treat it like the tool input itself.
	Evidence string `json:"evidence,omitempty"`
}

// Verdict is the result of analysing one tool call.
type Verdict struct {
	Flags []Flag `json:"flags"`
	// Severity is the highest severity among Flags (none without flags).
	Severity Severity `json:"severity"`
	// Score is what this call adds to a session score: for each category
	// the weight of its most severe flag, summed.
	Score float64 `json:"score"`

	// seq holds what this call tells a session about later calls
	// (scripts written and run); nil when nothing.
	seq *sequenceFacts
}

// Flagged reports whether v has a finding of medium severity or above.
func (v Verdict) Flagged() bool { return v.Severity >= SeverityMedium }

// Has reports whether v has a flag of category c with severity at least min.
func (v Verdict) Has(c Category, min Severity) bool {
	for _, f := range v.Flags {
		if f.Category == c && f.Severity >= min {
			return true
		}
	}
	return false
}

const (
	maxEvidence = 160
	maxFlags    = 32
)

// findings collects flags during one analysis, merging duplicates.
type findings struct {
	flags []Flag
	facts sequenceFacts
}

func (f *findings) add(cat Category, sev Severity, evidence, explanation string) {
	if sev <= SeverityNone {
		return
	}
	evidence = shorten(evidence, maxEvidence)
	for i := range f.flags {
		g := &f.flags[i]
		if g.Category == cat && g.Explanation == explanation && g.Evidence == evidence {
			if sev > g.Severity {
				g.Severity = sev
			}
			return
		}
	}
	if len(f.flags) >= maxFlags {
		// Keep the worst findings: replace the mildest one if this is worse.
		low := 0
		for i := range f.flags {
			if f.flags[i].Severity < f.flags[low].Severity {
				low = i
			}
		}
		if f.flags[low].Severity >= sev {
			return
		}
		f.flags[low] = Flag{Category: cat, Severity: sev, Explanation: explanation, Evidence: evidence}
		return
	}
	f.flags = append(f.flags, Flag{Category: cat, Severity: sev, Explanation: explanation, Evidence: evidence})
}

// max returns the highest severity recorded for category cat (any
// category when cat is empty), considering only flags from index from on.
func (f *findings) max(cat Category, from int) Severity {
	var m Severity
	for _, g := range f.flags[min(from, len(f.flags)):] {
		if (cat == "" || g.Category == cat) && g.Severity > m {
			m = g.Severity
		}
	}
	return m
}

func (f *findings) verdict() Verdict {
	v := Verdict{Flags: f.flags}
	if v.Flags == nil {
		v.Flags = []Flag{}
	}
	sort.SliceStable(v.Flags, func(i, j int) bool { return v.Flags[i].Severity > v.Flags[j].Severity })
	var worst [16]struct {
		cat Category
		sev Severity
	}
	n := 0
	for _, g := range v.Flags {
		if g.Severity > v.Severity {
			v.Severity = g.Severity
		}
		found := false
		for i := range n {
			if worst[i].cat == g.Category {
				found = true
				if g.Severity > worst[i].sev {
					worst[i].sev = g.Severity
				}
			}
		}
		if !found && n < len(worst) {
			worst[n].cat, worst[n].sev = g.Category, g.Severity
			n++
		}
	}
	for i := range n {
		v.Score += worst[i].sev.Weight()
	}
	if len(f.facts.ran) > 0 || len(f.facts.wrote) > 0 {
		facts := f.facts
		v.seq = &facts
	}
	return v
}

// shorten cuts s to at most n bytes on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
