package sim

import "time"

// outcome is a user.define_outcome the session works towards. The
// simulated grader is satisfied at the end of the first turn that works on
// it: span.outcome_evaluation_start, _ongoing and _end, then the session's
// outcome_evaluations shows the verdict.
type outcome struct {
	id          string
	description string
	iteration   int64
	result      string // pending, running, evaluating, satisfied
	explanation string
	completedAt *time.Time
}

func newOutcome(ev *event) *outcome {
	id, _ := ev.fields["outcome_id"].(string)
	desc, _ := ev.fields["description"].(string)
	return &outcome{id: id, description: desc, result: "pending"}
}

// wire is the outcome's answer form (BetaManagedAgentsOutcomeEvaluationResource).
func (o *outcome) wire() map[string]any {
	completed := any(nil)
	if o.completedAt != nil {
		completed = *o.completedAt
	}
	return map[string]any{
		"type": "outcome_evaluation", "outcome_id": o.id, "description": o.description, "iteration": o.iteration,
		"result": o.result, "explanation": o.explanation, "completed_at": completed,
	}
}

func outcomesWire(os []*outcome) []map[string]any {
	out := make([]map[string]any, 0, len(os))
	for _, o := range os {
		out = append(out, o.wire())
	}
	return out
}

// startOutcomes marks the pending outcomes as being worked on; the caller
// holds s.mu.
func (sess *session) startOutcomes() {
	for _, o := range sess.outcomes {
		if o.result == "pending" {
			o.result = "running"
		}
	}
}

// evaluateOutcomes grades the outcomes the turn worked on. The caller
// holds s.mu.
func (r *runner) evaluateOutcomes() {
	s, sess := r.s, r.sess
	for _, o := range sess.outcomes {
		if o.result != "running" {
			continue
		}
		o.result = "evaluating"
		start := s.emit(sess, "span.outcome_evaluation_start", map[string]any{"outcome_id": o.id, "iteration": o.iteration}, false)
		s.emit(sess, "span.outcome_evaluation_ongoing", map[string]any{"outcome_id": o.id, "iteration": o.iteration}, false)
		if start == nil {
			return // the session is gone
		}
		o.result, o.explanation = "satisfied", "(simulator) The deliverable meets the rubric."
		end := s.emit(sess, "span.outcome_evaluation_end", map[string]any{
			"outcome_evaluation_start_id": start.id, "outcome_id": o.id, "iteration": o.iteration,
			"result": o.result, "explanation": o.explanation, "usage": modelUsage(),
		}, false)
		o.completedAt = &end.processedAt
	}
}
