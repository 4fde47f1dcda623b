package anomaly

// This file holds what one call tells the session about later calls:
// scripts written by the file tools and scripts run, so that a session
// can judge a sequence of calls (read a secret, then send data out;
// write a script, then run it) as more than its steps. SessionScore
// keeps the memory (see Judge).

import (
	"strings"
	"time"
)

// sequenceFacts are the facts of one call that matter to later calls.
type sequenceFacts struct {
	wrote []writtenScript // files written by a file tool, with what their content does
	ran   []string        // programs and scripts run, as written
}

// writtenScript is a file a write/edit tool wrote, with the worst
// finding about its content.
type writtenScript struct {
	path string
	cat  Category
	sev  Severity
	why  string
}

const maxSequenceFacts = 8

func (f *findings) noteRan(p string) {
	if p == "" || len(f.facts.ran) >= maxSequenceFacts {
		return
	}
	f.facts.ran = append(f.facts.ran, p)
}

// noteWrote records the worst finding among flags[from:] as what the
// content written to p does.
func (f *findings) noteWrote(p string, from int) {
	if p == "" || len(f.facts.wrote) >= maxSequenceFacts {
		return
	}
	w := writtenScript{path: normalizePath(p)}
	for _, g := range f.flags[min(from, len(f.flags)):] {
		if g.Severity > w.sev {
			w.cat, w.sev, w.why = g.Category, g.Severity, g.Explanation
		}
	}
	f.facts.wrote = append(f.facts.wrote, w)
}

// sessionMemory is what a SessionScore remembers of earlier calls.
type sessionMemory struct {
	secretAt   time.Time // last call that touched credentials
	secretWhat string
	scripts    []writtenScript // most recent last, bounded
}

// sequenceWindow is how long a credential read makes later sends
// suspicious.
const sequenceWindow = 30 * time.Minute

const maxRememberedScripts = 32

// samePath reports whether a path as run (maybe relative) names the file
// written at w (normalized, usually absolute).
func samePath(run, w string) bool {
	r := normalizePath(run)
	if r == w {
		return true
	}
	r = strings.TrimPrefix(r, "./")
	return !strings.HasPrefix(r, "/") && !strings.HasPrefix(r, "~") && r != "" && strings.HasSuffix(w, "/"+r)
}

// judgeSequence adds the findings that come from earlier calls to v and
// updates the memory with v. It does not lock; the caller does.
func (m *sessionMemory) judgeSequence(v Verdict, now time.Time) Verdict {
	f := &findings{flags: append([]Flag(nil), v.Flags...)}
	added := false
	// scripts written earlier and run now
	if v.seq != nil {
		for _, r := range v.seq.ran {
			for i := len(m.scripts) - 1; i >= 0; i-- {
				w := m.scripts[i]
				if !samePath(r, w.path) {
					continue
				}
				if w.sev >= SeverityMedium {
					f.add(w.cat, w.sev, r, "runs "+r+", written earlier in this session: "+w.why)
					added = true
				}
				break
			}
		}
	}
	// credentials read earlier, data sent out now
	sends := v.Has(CategoryExfiltration, SeverityLow) || v.Has(CategoryUntrustedHost, SeverityMedium)
	readsNow := v.Has(CategoryCredentialAccess, SeverityLow)
	if sends && !readsNow && !m.secretAt.IsZero() && (now.IsZero() || now.Sub(m.secretAt) <= sequenceWindow) && !v.Has(CategoryExfiltration, SeverityHigh) {
		ev := ""
		for _, g := range v.Flags {
			if g.Category == CategoryExfiltration || g.Category == CategoryUntrustedHost {
				ev = g.Evidence
				break
			}
		}
		f.add(CategoryExfiltration, SeverityHigh, ev, "sends data out after the session read "+m.secretWhat)
		added = true
	}
	// remember this call
	for _, g := range v.Flags {
		if g.Category == CategoryCredentialAccess {
			m.secretAt, m.secretWhat = now, strings.TrimPrefix(strings.TrimPrefix(g.Explanation, "reads "), "uses ")
			if m.secretAt.IsZero() {
				m.secretAt = time.Unix(1, 0) // events without times: no window
			}
			break
		}
	}
	if v.seq != nil {
		for _, w := range v.seq.wrote {
			for i := range m.scripts {
				if m.scripts[i].path == w.path {
					m.scripts = append(m.scripts[:i], m.scripts[i+1:]...)
					break
				}
			}
			m.scripts = append(m.scripts, w)
			if len(m.scripts) > maxRememberedScripts {
				m.scripts = m.scripts[1:]
			}
		}
	}
	if !added {
		return v
	}
	out := f.verdict()
	out.seq = v.seq
	return out
}
