package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/anomaly"
	"github.com/vargate/vargate/internal/audit"
)

// maxDetectors bounds the per-session detectors a tenant replay keeps.
const maxDetectors = 1024

// detectors returns the anomaly detector of a session: the current rules
// with the allowed domains of the configuration the session pinned (none
// when the session or its configuration cannot be read, as for MCP
// sessions of agent keys).
type detectors struct {
	s        *Service
	plain    *anomaly.Detector
	sessions map[string]*anomaly.Detector
}

func newDetectors(s *Service) *detectors {
	return &detectors{s: s, plain: anomaly.New(anomaly.Config{}), sessions: map[string]*anomaly.Detector{}}
}

func (d *detectors) forSession(ctx context.Context, tenantID, sessionID string) (*anomaly.Detector, error) {
	if sessionID == "" || d.s.Sessions == nil || d.s.Agents == nil {
		return d.plain, nil
	}
	if det, ok := d.sessions[sessionID]; ok {
		return det, nil
	}
	det := d.plain
	sess, err := d.s.Sessions.Get(ctx, tenantID, sessionID)
	switch {
	case err == nil:
		cfg, err := d.s.Agents.GetVersion(ctx, tenantID, sess.AgentID, sess.AgentVersion)
		if err != nil && !vargate.IsKind(err, vargate.KindNotFound) {
			return nil, err
		}
		if err == nil && len(cfg.GovernanceProfile.AllowedDomains) > 0 {
			det = anomaly.New(anomaly.Config{AllowedDomains: cfg.GovernanceProfile.AllowedDomains})
		}
	case !vargate.IsKind(err, vargate.KindNotFound):
		return nil, err
	}
	if len(d.sessions) >= maxDetectors {
		clear(d.sessions)
	}
	d.sessions[sessionID] = det
	return det, nil
}

// originalView reads an observed record's recorded verdict.
func originalView(raw json.RawMessage) (AnomalyView, bool) {
	var a anomalyDetail
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil {
		return AnomalyView{}, false
	}
	v := AnomalyView{Flagged: a.Flagged, Severity: a.Severity, Score: a.Score, Categories: []string{}}
	for _, f := range a.Flags {
		v.Categories = append(v.Categories, f.Category)
	}
	slices.Sort(v.Categories)
	v.Categories = slices.Compact(v.Categories)
	return v, true
}

func verdictView(v anomaly.Verdict) AnomalyView {
	av := AnomalyView{Flagged: v.Flagged(), Severity: v.Severity.String(), Score: roundScore(v.Score), Categories: []string{}}
	for _, f := range v.Flags {
		av.Categories = append(av.Categories, string(f.Category))
	}
	slices.Sort(av.Categories)
	av.Categories = slices.Compact(av.Categories)
	return av
}

func roundScore(f float64) float64 { return float64(int64(f*1e4+0.5)) / 1e4 }

// observed re-scores every observed record with the current rules, from
// the input the trail keeps (redacted: a secret the agent handled is not
// in it), tallying into obs and passing each change to emit in seq order.
func (r *Replay) observed(ctx context.Context, obs *ObservedReplay, emit func(AnomalyChange) error) error {
	err := r.records(ctx, audit.SourceMCPObserved, func(rec *audit.Record) error {
		orig, ok := originalView(rec.Anomaly)
		if !ok {
			obs.Skipped++
			return nil
		}
		det, err := r.detectors.forSession(ctx, r.tenantID, rec.SessionID)
		if err != nil {
			return err
		}
		input := rec.ArgsRedacted
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		now := verdictView(det.Analyze(rec.Tool, input))
		obs.TotalRescored++
		if now.Flagged == orig.Flagged && now.Severity == orig.Severity && slices.Equal(now.Categories, orig.Categories) {
			obs.Consistent++
			return nil
		}
		obs.Changed++
		switch {
		case now.Flagged && !orig.Flagged:
			obs.NewlyFlagged++
		case !now.Flagged && orig.Flagged:
			obs.NoLongerFlagged++
		}
		c := AnomalyChange{Seq: rec.Seq, Time: rec.Time, ActionID: rec.ActionID, Tool: rec.Tool, Original: orig, Replayed: now}
		if r.sessionID == "" {
			c.SessionID = rec.SessionID
		}
		return emit(c)
	})
	if err != nil {
		return fmt.Errorf("re-score observed records: %w", err)
	}
	return nil
}
