package compliance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/vargate/vargate/internal/audit"
)

// VerifyExport checks a compliance export offline against the audit
// public key the auditor trusts. It checks, in order:
//
//   - the bundle in chain_verification (audit.VerifyBundle): the signed
//     checkpoint, each record's hash, links, and inclusion proofs;
//   - the session checkpoint: signed by the same key for this tenant and
//     session, and stating the number and Merkle root of exactly the
//     records in the bundle — so no record of the session was left out;
//   - that every record belongs to the session, and that the timeline,
//     summary, AGCS controls and EU AI Act mapping are what those records
//     say (recomputed, not trusted).
//
// The session section's other fields (agent configuration, status) come
// from the gateway's session store, not from records, and are not
// checked. A document without chain_verification is checked as a bare
// bundle. The whole document is held in memory.
func VerifyExport(data []byte, v *audit.Verifier) audit.VerifyResult {
	b, err := audit.DecodeBundle(data)
	if err != nil {
		return audit.VerifyResult{Reason: err.Error()}
	}
	res := audit.VerifyBundle(b, v)
	if !res.Valid {
		return res
	}
	var probe struct {
		ChainVerification json.RawMessage `json:"chain_verification"`
	}
	if err := json.Unmarshal(data, &probe); err != nil || len(probe.ChainVerification) == 0 {
		return res // a bare bundle: nothing more to check
	}
	var doc Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return fail(res, 0, "read export: %v", err)
	}
	if reason, seq := checkSession(&doc, v); reason != "" {
		return fail(res, seq, "%s", reason)
	}
	if reason, seq := checkDerived(&doc); reason != "" {
		return fail(res, seq, "%s", reason)
	}
	return res
}

func fail(res audit.VerifyResult, seq int64, format string, args ...any) audit.VerifyResult {
	res.Valid, res.FirstInvalidSeq, res.Reason = false, seq, fmt.Sprintf(format, args...)
	res.TreeSize, res.Root = 0, audit.Hash{}
	return res
}

// checkSession checks that the bundle holds exactly the session's records.
func checkSession(doc *Document, v *audit.Verifier) (string, int64) {
	cv := &doc.ChainVerification
	if doc.Session.ID == "" || doc.Session.TenantID != cv.TenantID {
		return "the export's session does not name the bundle's tenant", 0
	}
	if cv.SessionCheckpoint == "" {
		return "the export has no session checkpoint: it cannot show that it holds every record of the session", 0
	}
	body, err := v.Open(SessionLog(cv.TenantID, doc.Session.ID), cv.SessionCheckpoint)
	if err != nil {
		return fmt.Sprintf("session checkpoint: %v", err), 0
	}
	st := newSessionTree()
	for i := range cv.Records {
		rec := &cv.Records[i]
		if rec.SessionID != doc.Session.ID {
			return fmt.Sprintf("record %d belongs to session %q, not %q", rec.Seq, rec.SessionID, doc.Session.ID), rec.Seq
		}
		if err := st.add(rec.Hash); err != nil {
			return err.Error(), rec.Seq
		}
	}
	n, root, err := st.root()
	switch {
	case err != nil:
		return err.Error(), 0
	case n != body.Size:
		return fmt.Sprintf("the session checkpoint counts %d records but the export holds %d: records were removed or added", body.Size, n), 0
	case root != body.Root:
		return "the records differ from those the session checkpoint was signed over", 0
	}
	return "", 0
}

// checkDerived recomputes the timeline, summary, controls and articles
// from the (verified) records and compares them with the document's.
func checkDerived(doc *Document) (string, int64) {
	cv := &doc.ChainVerification
	if len(doc.Timeline) != len(cv.Records) {
		return fmt.Sprintf("the timeline has %d events for %d records", len(doc.Timeline), len(cv.Records)), 0
	}
	z, a := newSummarizer(), newAssessor(len(cv.Records)+1)
	for i := range cv.Records {
		rec := cv.Records[i].Clone()
		if err := rec.Normalize(); err != nil {
			return err.Error(), rec.Seq
		}
		f := classify(&rec)
		z.add(&f)
		a.add(&f)
		if !sameJSON(f.event(), doc.Timeline[i]) {
			return fmt.Sprintf("timeline event %d does not match record %d", i+1, rec.Seq), rec.Seq
		}
	}
	if !sameJSON(z.summary(), doc.Summary) {
		return "the summary does not match the records", 0
	}
	want := a.exercised()
	if len(want) != len(doc.AGCSControls) {
		return fmt.Sprintf("the export lists %d AGCS controls; the records show %d", len(doc.AGCSControls), len(want)), 0
	}
	for _, c := range want {
		got, ok := doc.AGCSControls[c.ID]
		if !ok || !sameEvidence(got.Records, got.RecordsTruncated, c.Records) {
			return fmt.Sprintf("AGCS control %s does not match the records", c.ID), 0
		}
		got.Records, got.RecordsTruncated, c.Records = nil, false, nil
		if !sameJSON(got, c) {
			return fmt.Sprintf("AGCS control %s does not match the records", c.ID), 0
		}
	}
	arts := a.mapping()
	if len(arts) != len(doc.EUAIAct) {
		return "the EU AI Act mapping does not match the records", 0
	}
	for i, want := range arts {
		got, ok := doc.EUAIAct[articles[i].key]
		if !ok || !sameEvidence(got.Records, got.RecordsTruncated, want.Records) {
			return fmt.Sprintf("EU AI Act article %s does not match the records", want.Article), 0
		}
		got.Records, got.RecordsTruncated, want.Records = nil, false, nil
		if !sameJSON(got, want) {
			return fmt.Sprintf("EU AI Act article %s does not match the records", want.Article), 0
		}
	}
	return "", 0
}

// sameEvidence reports whether listed (possibly cut short, as truncated
// says) is the evidence all.
func sameEvidence(listed []int64, truncated bool, all []int64) bool {
	if len(listed) > len(all) || !slices.Equal(listed, all[:len(listed)]) {
		return false
	}
	return truncated == (len(listed) < len(all))
}

// sameJSON reports whether a and b encode to the same canonical JSON.
func sameJSON(a, b any) bool {
	x, err1 := canonical(a)
	y, err2 := canonical(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	j := jsontext.Value(b)
	if err := j.Canonicalize(); err != nil {
		return nil, err
	}
	return j, nil
}
