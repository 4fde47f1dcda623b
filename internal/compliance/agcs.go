package compliance

import (
	"github.com/vargate/vargate/internal/policy"
)

// AGCSVersion is the version of the Agent Governance Certification
// Standard whose controls an export maps.
const AGCSVersion = "0.9"

// Control is an AGCS control that a session exercised, with the records
// that show it (by seq, the first MaxEvidence of them; RecordCount is
// complete).
type Control struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Tier int    `json:"tier"`
	// Evidence says what in the records shows the control at work.
	Evidence         string  `json:"evidence"`
	RecordCount      int64   `json:"record_count"`
	Records          []int64 `json:"records"`
	RecordsTruncated bool    `json:"records_truncated,omitempty"`
}

// Article maps an EU AI Act article to the controls of the session that
// support it. Applies is set when at least one of them was exercised.
type Article struct {
	Article          string   `json:"article"`
	Title            string   `json:"title"`
	Applies          bool     `json:"applies"`
	Basis            string   `json:"basis"`
	Controls         []string `json:"controls"`
	RecordCount      int64    `json:"record_count"`
	Records          []int64  `json:"records"`
	RecordsTruncated bool     `json:"records_truncated,omitempty"`
}

// controlDef defines a control by the records that exercise it.
type controlDef struct {
	id, name string
	tier     int
	evidence string
	match    func(f *facts) bool
}

// controls are the AGCS controls an export can show, in standard order.
// Controls the gateway does not implement or leaves no record of
// (crypto-shredding, external anchoring, webhooks) are not listed; a
// control appears in an export only when a record of the session
// exercised it.
var controls = []controlDef{
	{"AG-1.1", "Policy evaluation", 1,
		"a governed call decided by the policy engine before it ran, with a decision ID",
		func(f *facts) bool { return isGoverned(f) && f.rec.DecisionID != "" && policyDecision(f.rec.Decision) }},
	{"AG-1.2", "Immutable audit", 1,
		"a record hash-chained in the tenant's append-only log (chain_verification checks each hash and link)",
		func(*facts) bool { return true }},
	{"AG-1.3", "Action identification", 1,
		"a record naming the action it belongs to (action ID)",
		func(f *facts) bool { return f.rec.ActionID != "" }},
	{"AG-1.4", "Agent identification", 1,
		"a record naming the agent configuration that acted",
		func(f *facts) bool { return f.rec.AgentID != "" }},
	{"AG-1.5", "Transparency", 1,
		"a deny or approval requirement with its reasons on record, or the hash of the governance-injected system prompt",
		func(f *facts) bool {
			return (isGoverned(f) && f.rec.Decision != policy.Allow && len(f.rec.Reasons) > 0) ||
				(f.rec.Decision == decisionSessionCreated && f.detail.SystemPromptHash != "")
		}},
	{"AG-1.6", "Human override", 1,
		"a person approved or rejected a queued action, or interrupted the session",
		func(f *facts) bool { return humanDecision(f) }},
	{"AG-1.7", "Rate limiting", 1,
		"the session was admitted against the tenant's and the agent's session budgets",
		func(f *facts) bool { return f.rec.Decision == decisionSessionCreated && len(f.detail.Budget) > 0 }},
	{"AG-1.8", "Tenant isolation", 1,
		"a record bound to its tenant by its hash and by the checkpoint's origin",
		func(f *facts) bool { return f.rec.TenantID != "" }},
	{"AG-1.9", "Credential brokering", 1,
		"a credential released by the vault to a connector for one action; the agent never saw it",
		func(f *facts) bool {
			return f.kind == KindCredential && (f.detail.Op == "" || f.detail.Op == credentialOpUse)
		}},
	{"AG-1.10", "Behavioural analysis", 1,
		"a built-in tool call scored by the anomaly rules, or an interrupt they triggered",
		func(f *facts) bool { return f.anomaly != nil || (f.kind == KindInterrupt && f.automatic()) }},
	{"AG-1.11", "PII protection", 1,
		"personal data or secrets found in a governed call's arguments, given to the policy and redacted in the trail",
		func(f *facts) bool { return isGoverned(f) && f.detail.Input != nil && len(f.detail.Input.PII) > 0 }},
	{"AG-2.1", "Schema validation", 2,
		"a governed call's arguments checked against the tool's schema (accepted, or refused as invalid_arguments)",
		func(f *facts) bool {
			return f.kind == KindGovernedCall && (f.detail.Input != nil || f.detail.Outcome == outcomeInvalidArguments)
		}},
	{"AG-2.2", "Merkle tree", 2,
		"a record that is a leaf of the tenant's RFC 6962 Merkle tree (chain_verification.proofs)",
		func(*facts) bool { return true }},
	{"AG-2.3", "Signed checkpoints and inclusion proofs", 2,
		"a record proven by an inclusion proof against the signed checkpoint in chain_verification",
		func(*facts) bool { return true }},
	{"AG-2.5", "Policy versioning", 2,
		"a decision that names the policy version that made it",
		func(f *facts) bool { return isGoverned(f) && f.rec.PolicyVersion != "" }},
	{"AG-2.8", "Policy replay", 2,
		"a governed call whose full policy input is recorded, so it can be replayed against any policy version",
		func(f *facts) bool { return f.kind == KindGovernedCall && f.detail.Input != nil }},
	{"AG-2.9", "Safety constraints", 2,
		"a hard limit enforced: an automatic interrupt, the session's time limit, or a deny for delegation depth, anomaly score or secrets",
		func(f *facts) bool {
			r := f.rec
			return (f.kind == KindInterrupt && f.automatic()) || r.Decision == decisionSessionExpired ||
				(isGoverned(f) && r.Decision == policy.Deny && (hasReason(r, reasonDelegationTooDeep) ||
					hasReason(r, reasonAnomalyScore) || hasReason(r, reasonSecretInArguments)))
		}},
}

// articleDef maps an EU AI Act article to controls, and to records that
// show the article at work beyond those controls (extra, may be nil).
type articleDef struct {
	key, article, title, basis string
	controls                   []string
	extra                      func(f *facts) bool
}

var articles = []articleDef{
	{"article_12", "12", "Record-keeping",
		"automatic recording of events over the system's lifetime, identifying situations of risk and enabling post-market monitoring",
		[]string{"AG-1.2", "AG-1.3", "AG-1.4", "AG-2.2", "AG-2.3"}, nil},
	{"article_14", "14", "Human oversight",
		"natural persons oversee the system: actions held for a human decision, decisions to disregard or override an output, and the ability to interrupt (Art. 14(4)(d), (e))",
		[]string{"AG-1.6"}, heldForHuman},
}

// heldForHuman reports whether the record shows an action held for a
// person: a decision requiring approval, or the request in the queue.
func heldForHuman(f *facts) bool {
	return (isGoverned(f) && f.rec.Decision == policy.RequireApproval) ||
		(f.kind == KindApproval && f.rec.Decision == approvalRequested)
}

func isGoverned(f *facts) bool { return f.kind == KindGovernedCall || f.kind == KindConfirmation }

// humanDecision reports whether a person decided: an approval or
// rejection by a human key, or an interrupt a human asked for.
func humanDecision(f *facts) bool {
	r := f.rec
	switch f.kind {
	case KindApproval:
		return (r.Decision == approvalApproved || r.Decision == approvalRejected) && r.Actor != "" && r.Actor != ActorSystem
	case KindInterrupt:
		return r.Decision == decisionInterrupted && !f.automatic() && r.Actor != ""
	}
	return false
}

// evidence collects the records that show one control or article.
type evidence struct {
	count     int64
	seqs      []int64
	truncated bool
}

func (e *evidence) add(seq int64, limit int) {
	e.count++
	if len(e.seqs) < limit {
		e.seqs = append(e.seqs, seq)
	} else {
		e.truncated = true
	}
}

// assessor computes the controls and articles one record at a time.
type assessor struct {
	limit    int
	matched  []bool     // scratch, by index into controls
	controls []evidence // by index into controls
	articles []evidence // by index into articles
	// artControls[i] lists indexes into controls for articles[i].
	artControls [][]int
}

func newAssessor(limit int) *assessor {
	a := &assessor{limit: limit, matched: make([]bool, len(controls)),
		controls: make([]evidence, len(controls)), articles: make([]evidence, len(articles))}
	for _, ad := range articles {
		var idx []int
		for _, id := range ad.controls {
			for i, c := range controls {
				if c.id == id {
					idx = append(idx, i)
				}
			}
		}
		a.artControls = append(a.artControls, idx)
	}
	return a
}

func (a *assessor) add(f *facts) {
	matched := a.matched
	for i := range controls {
		matched[i] = controls[i].match(f)
		if matched[i] {
			a.controls[i].add(f.rec.Seq, a.limit)
		}
	}
	for i, idx := range a.artControls {
		hit := articles[i].extra != nil && articles[i].extra(f)
		for _, c := range idx {
			hit = hit || matched[c]
		}
		if hit {
			a.articles[i].add(f.rec.Seq, a.limit)
		}
	}
}

// exercised returns the controls with evidence, in standard order.
func (a *assessor) exercised() []Control {
	var out []Control
	for i, c := range controls {
		e := a.controls[i]
		if e.count == 0 {
			continue
		}
		out = append(out, Control{ID: c.id, Name: c.name, Tier: c.tier, Evidence: c.evidence,
			RecordCount: e.count, Records: nonNilSeqs(e.seqs), RecordsTruncated: e.truncated})
	}
	return out
}

// mapping returns every article, applying or not.
func (a *assessor) mapping() []Article {
	out := make([]Article, len(articles))
	for i, ad := range articles {
		e := a.articles[i]
		art := Article{Article: ad.article, Title: ad.title, Basis: ad.basis, Applies: e.count > 0, Controls: []string{},
			RecordCount: e.count, Records: nonNilSeqs(e.seqs), RecordsTruncated: e.truncated}
		for _, c := range a.artControls[i] {
			if a.controls[c].count > 0 {
				art.Controls = append(art.Controls, controls[c].id)
			}
		}
		out[i] = art
	}
	return out
}

func nonNilSeqs(s []int64) []int64 {
	if s == nil {
		return []int64{}
	}
	return s
}
