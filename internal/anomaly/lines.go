package anomaly

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxLineBytes bounds one input line of RunLines.
const maxLineBytes = 16 << 20

// lineEvent is what RunLines reads from a line: a bare tool call
// ({"name","input"}) or a Managed Agents event (agent.tool_use,
// agent.mcp_tool_use …) with an id and a timestamp.
type lineEvent struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Input       json.RawMessage `json:"input"`
	ProcessedAt string          `json:"processed_at"`
	CreatedAt   string          `json:"created_at"`
	Timestamp   string          `json:"timestamp"`
}

// LineVerdict is one output line of RunLines.
type LineVerdict struct {
	Line int    `json:"line"`
	ID   string `json:"id,omitempty"`
	Tool string `json:"tool,omitempty"`
	Verdict
	// SessionScore is the decayed session total after this event.
	SessionScore float64 `json:"session_score"`
	// Interrupt is true when this event took the session score over the
	// risk level's threshold.
	Interrupt bool   `json:"interrupt"`
	Error     string `json:"error,omitempty"`
}

// RunLines reads tool-use events as JSON lines from r and writes one
// LineVerdict per event to w, accumulating a session score in s (nil
// means a standard-risk score). Blank lines, "data:" prefixes of SSE
// transcripts and events whose type does not end in "tool_use" are
// skipped. A line that is not valid JSON produces a LineVerdict with
// Error set; RunLines goes on and reports the count in its error at the
// end. Event times come from processed_at, created_at or timestamp;
// without them the score does not decay.
func RunLines(ctx context.Context, r io.Reader, w io.Writer, d *Detector, s *SessionScore) error {
	if s == nil {
		s = NewSessionScore(RiskStandard)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n, bad := 0, 0
	for sc.Scan() {
		if err := ctx.Err(); err != nil {
			return err
		}
		n++
		line := bytes.TrimSpace(sc.Bytes())
		line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("data:")))
		if len(line) == 0 {
			continue
		}
		var ev lineEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			bad++
			out := LineVerdict{Line: n, Verdict: Verdict{Flags: []Flag{}}, SessionScore: round3(s.Total(time.Time{})), Error: "not a JSON object: " + err.Error()}
			if err := enc.Encode(out); err != nil {
				return fmt.Errorf("write verdict: %w", err)
			}
			continue
		}
		if ev.Type != "" && !strings.HasSuffix(ev.Type, "tool_use") {
			continue
		}
		if ev.Name == "" {
			bad++
			out := LineVerdict{Line: n, ID: ev.ID, Verdict: Verdict{Flags: []Flag{}}, SessionScore: round3(s.Total(time.Time{})), Error: `missing tool "name"`}
			if err := enc.Encode(out); err != nil {
				return fmt.Errorf("write verdict: %w", err)
			}
			continue
		}
		v := d.Analyze(ev.Name, ev.Input)
		v, total, crossed := s.Judge(v, eventTime(ev))
		out := LineVerdict{Line: n, ID: ev.ID, Tool: ev.Name, Verdict: v, SessionScore: round3(total), Interrupt: crossed}
		out.Score = round3(out.Score)
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("write verdict: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	if bad > 0 {
		return fmt.Errorf("%d input lines could not be read as tool-use events", bad)
	}
	return nil
}

func eventTime(ev lineEvent) time.Time {
	for _, s := range []string{ev.ProcessedAt, ev.CreatedAt, ev.Timestamp} {
		if s == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func round3(f float64) float64 {
	return float64(int64(f*1000+0.5)) / 1000
}
