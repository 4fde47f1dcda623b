package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/approval"
)

// walkthrough plays the setup guide's steps against the demo gateway
// through its public API, printing what happens.
type walkthrough struct {
	out  *demoPrinter
	c    *demoClient
	up   *demoUpstreams
	base string
	// exit: the gateway stops after the walkthrough, so no command to
	// run against it is printed.
	exit bool
}

// command prints a command to try against the running gateway, or
// nothing when the demo stops after the walkthrough.
func (w *walkthrough) command(intro, cmd string) {
	if w.exit {
		return
	}
	if intro != "" {
		w.out.printf("        %s\n\n", intro)
	}
	w.out.printf("%s\n", cmd)
}

func (w *walkthrough) run(ctx context.Context) error {
	out, c := w.out, w.c
	var cred struct {
		ID, Fingerprint string
		Version         int
	}
	out.step(1, "Register the Anthropic API key in the vault")
	if err := c.do(ctx, "POST", "/credentials/register", map[string]any{
		"tool_id": "anthropic", "credential_type": "api_key", "value": demoAnthropicKey,
	}, &cred); err != nil {
		return err
	}
	out.printf("        POST /api/credentials/register → %s (version %d, fingerprint %s); the value is sealed, never returned\n",
		cred.ID, cred.Version, cred.Fingerprint)
	for _, r := range []map[string]any{
		{"tool_id": "vargate_web_search", "credential_type": "api_key", "value": demoSearchKey},
		{"tool_id": "vargate_send_email", "credential_type": "smtp", "value": map[string]any{
			"host": w.up.MailHost, "port": w.up.MailPort, "from": demoMailFrom}},
	} {
		if err := c.do(ctx, "POST", "/credentials/register", r, nil); err != nil {
			return err
		}
	}
	out.printf("        also the keys of the governed tools: web search, and the demo mail sink for vargate_send_email\n")

	out.step(2, "Create the agent configuration (the guide's request)")
	var agentCfg struct {
		ID                   string   `json:"id"`
		AllowedTools         []string `json:"allowed_tools"`
		RequireHumanApproval []string `json:"require_human_approval"`
	}
	if err := c.do(ctx, "POST", "/managed/agents", guideAgentRequest, &agentCfg); err != nil {
		return err
	}
	out.printf("        %s \"Research Assistant\": tools %s; a human approves %s\n",
		agentCfg.ID, strings.Join(agentCfg.AllowedTools, ", "), strings.Join(agentCfg.RequireHumanApproval, ", "))

	out.step(3, "Vargate as the agent's MCP server (automatic)")
	var health struct {
		Status string `json:"status"`
		Server string `json:"server"`
	}
	if err := c.do(ctx, "GET", "/mcp/server/health", nil, &health); err != nil {
		return err
	}
	out.printf("        each session registers %s/api/mcp/server on its agent as MCP server %q,\n        with a token of its own (GET /api/mcp/server/health: %s)\n",
		w.base, health.Server, health.Status)

	out.step(4, "Create a governed session")
	var sess struct {
		SessionID          string `json:"session_id"`
		AnthropicSessionID string `json:"anthropic_session_id"`
		SystemPromptHash   string `json:"system_prompt_hash"`
		MCPServerURL       string `json:"mcp_server_url"`
	}
	if err := c.do(ctx, "POST", "/managed/sessions", map[string]any{
		"agent_id":     agentCfg.ID,
		"user_message": "Research the latest trends in enterprise AI governance and draft a summary report.",
	}, &sess); err != nil {
		return err
	}
	out.printf("        %s (Anthropic session %s)\n        system prompt hash %s\n        Vargate registered itself as the agent's MCP server: %s\n",
		sess.SessionID, sess.AnthropicSessionID, sess.SystemPromptHash, sess.MCPServerURL)

	out.step(5, "Monitor the session: the agent works, Vargate governs and observes")
	status, err := w.watch(ctx, sess.SessionID)
	if err != nil {
		return err
	}
	out.printf("        status %s — governed %d, observed %d, denied %d, pending %d\n",
		status.Status, status.Governed, status.Observed, status.Denied, status.Pending)

	out.step(6, "Handle the approval")
	var list struct {
		Approvals []struct {
			ID        string          `json:"id"`
			Tool      string          `json:"tool"`
			Redacted  json.RawMessage `json:"arguments_redacted"`
			Reasons   []string        `json:"reasons"`
			ExpiresAt time.Time       `json:"expires_at"`
		} `json:"approvals"`
	}
	if err := c.do(ctx, "GET", "/approvals?session_id="+url.QueryEscape(sess.SessionID), nil, &list); err != nil {
		return err
	}
	if len(list.Approvals) == 0 {
		out.printf("        nothing is waiting for a human\n")
	}
	for _, p := range list.Approvals {
		// The demo's key decides: it is shown the exact arguments (the
		// listing has only the redacted ones), hidden characters escaped.
		var one struct {
			Arguments json.RawMessage `json:"arguments"`
		}
		shown := p.Redacted
		if err := c.do(ctx, "GET", "/approvals/"+url.PathEscape(p.ID), nil, &one); err == nil && len(one.Arguments) > 0 {
			shown = one.Arguments
		}
		var args struct{ To, Subject string }
		_ = json.Unmarshal(shown, &args) // shown only when it has these fields
		args.To, _ = approval.EscapeHidden(args.To)
		args.Subject, _ = approval.EscapeHidden(args.Subject)
		out.printf("        action %s: %s to %s, %q\n        held because: %s\n        it expires at %s\n",
			p.ID, p.Tool, args.To, args.Subject, strings.Join(p.Reasons, "; "), p.ExpiresAt.Local().Format("2006-01-02 15:04 MST (UTC-07:00)"))
		w.command("Approve it (the e-mail goes to the demo's mail sink):",
			fmt.Sprintf("          curl -X POST %s/api/approve/%s \\\n            -H \"X-API-Key: $VARGATE_API_KEY\"\n", w.base, p.ID))
		w.command("or reject it, and the agent is told why:",
			fmt.Sprintf("          curl -X POST %s/api/reject/%s \\\n            -H \"X-API-Key: $VARGATE_API_KEY\" -H \"Content-Type: application/json\" \\\n            -d '{\"reason\": \"External email not permitted for this task\"}'", w.base, p.ID))
	}
	if w.exit && len(list.Approvals) > 0 {
		out.printf("        (without --exit the demo keeps serving and prints the commands that approve or reject it)\n")
	}

	out.step(7, "Emergency interrupt (not run here: it would end the session before you decide)")
	if w.exit {
		out.printf("        POST /api/managed/sessions/%s/interrupt stops it for good: its MCP token stops working at once\n", sess.SessionID)
	}
	w.command("", fmt.Sprintf("          curl -X POST %s/api/managed/sessions/%s/interrupt \\\n            -H \"X-API-Key: $VARGATE_API_KEY\" -H \"Content-Type: application/json\" \\\n            -d '{\"reason\": \"Agent attempted to access production database credentials\"}'",
		w.base, sess.SessionID))

	out.step(8, "Review the compliance artifacts")
	var comp struct {
		Summary struct {
			TotalEvents   int     `json:"total_events"`
			GovernedCalls int     `json:"governed_calls"`
			ObservedCalls int     `json:"observed_calls"`
			Denials       int     `json:"denials"`
			DenialRate    float64 `json:"denial_rate"`
			Anomalies     int     `json:"anomalies"`
			Approvals     struct {
				Requested int `json:"requested"`
				Pending   int `json:"pending"`
			} `json:"approvals"`
		} `json:"summary"`
		Session struct {
			DurationSeconds float64 `json:"duration_seconds"`
		} `json:"session"`
		Chain struct {
			Valid          bool   `json:"valid"`
			RecordsChecked int    `json:"records_checked"`
			TreeSize       int    `json:"tree_size"`
			RootHash       string `json:"root_hash"`
		} `json:"chain_verification"`
		Controls map[string]json.RawMessage `json:"agcs_controls"`
	}
	if err := c.do(ctx, "GET", "/managed/sessions/"+sess.SessionID+"/compliance", nil, &comp); err != nil {
		return err
	}
	s := comp.Summary
	out.printf("        %d events in %.1fs: %d governed calls, %d observed, %d denied (denial rate %g), %d anomalies\n",
		s.TotalEvents, comp.Session.DurationSeconds, s.GovernedCalls, s.ObservedCalls, s.Denials, s.DenialRate, s.Anomalies)
	out.printf("        approval queue: %d requested, %d waiting for a human\n", s.Approvals.Requested, s.Approvals.Pending)
	verdict := "INVALID"
	if comp.Chain.Valid {
		verdict = "valid"
	}
	out.printf("        audit trail %s: the session's %d records, each checked against the tenant's\n        signed log of %d records (Merkle root %.16s…); %d AGCS controls mapped\n",
		verdict, comp.Chain.RecordsChecked, comp.Chain.TreeSize, comp.Chain.RootHash, len(comp.Controls))
	w.command("the full export (timeline, proofs, EU AI Act mapping; ?format=html for a report):",
		fmt.Sprintf("          curl %s/api/managed/sessions/%s/compliance \\\n            -H \"X-API-Key: $VARGATE_API_KEY\"", w.base, sess.SessionID))
	return nil
}

// demoStatus is the part of the session status the demo shows.
type demoStatus struct {
	Status   string `json:"status"`
	Governed int    `json:"total_governed_calls"`
	Observed int    `json:"total_observed_calls"`
	Denied   int    `json:"total_denied"`
	Pending  int    `json:"total_pending"`
}

// watch prints the session's audit records as they arrive until the
// session is no longer active, with a progress line meanwhile.
func (w *walkthrough) watch(ctx context.Context, id string) (demoStatus, error) {
	var after int64
	started := time.Now()
	deadline := started.Add(3 * time.Minute)
	running := map[string]string{} // governed lines waiting for their outcome
	for {
		var page struct {
			Events []struct {
				Seq      int64           `json:"seq"`
				Source   string          `json:"source"`
				ActionID string          `json:"action_id"`
				Tool     string          `json:"tool"`
				Decision string          `json:"decision"`
				Outcome  string          `json:"outcome"`
				Args     json.RawMessage `json:"args_redacted"`
				Detail   json.RawMessage `json:"detail"`
			} `json:"events"`
		}
		if err := w.c.do(ctx, "GET", fmt.Sprintf("/managed/sessions/%s/audit?after=%d&limit=200", id, after), nil, &page); err != nil {
			return demoStatus{}, err
		}
		for _, e := range page.Events {
			after = e.Seq
			switch e.Source {
			case "mcp_governed":
				line := fmt.Sprintf("governed  %-20s policy: %s", e.Tool, e.Decision)
				switch e.Outcome {
				case "executing": // its mcp_outcome record says how it ended
					running[e.ActionID] = line
					continue
				case "pending_approval":
					line += " → held for a human"
				case "":
				default:
					line += " → " + e.Outcome
				}
				w.out.event(line)
			case "mcp_outcome":
				if line, ok := running[e.ActionID]; ok {
					delete(running, e.ActionID)
					w.out.event(line + " → " + e.Outcome)
				}
			case "mcp_observed":
				w.out.event(fmt.Sprintf("observed  %-20s %s", e.Tool, shortArgs(e.Args)))
			case "credential":
				if e.Tool != "anthropic" {
					w.out.event(fmt.Sprintf("vault     %-20s credential released to the connector for this call (audited)", e.Tool))
				}
			case "session":
				w.out.event(fmt.Sprintf("session   %s", e.Decision))
			}
		}
		var st demoStatus
		if err := w.c.do(ctx, "GET", "/managed/sessions/"+id+"/status", nil, &st); err != nil {
			return demoStatus{}, err
		}
		if st.Status != "active" && len(page.Events) == 0 {
			w.out.clearProgress()
			return st, nil
		}
		if time.Now().After(deadline) {
			w.out.clearProgress()
			return st, fmt.Errorf("the session is still %s after %s", st.Status, time.Since(started).Round(time.Second))
		}
		w.out.working(time.Since(started), st)
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// shortArgs shows a built-in tool's input on one line.
func shortArgs(raw json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	s, ok := m["command"].(string)
	if !ok {
		b, _ := json.Marshal(m)
		s = string(b)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}

// guideAgentRequest is the body of the guide's step 2.
var guideAgentRequest = map[string]any{
	"name":                   "Research Assistant",
	"anthropic_model":        "claude-sonnet-4-6",
	"system_prompt":          "You are a research assistant that helps analysts find and summarize information.",
	"allowed_tools":          []string{"vargate_web_search", "vargate_send_email", "vargate_read_database"},
	"require_human_approval": []string{"vargate_send_email"},
	"max_session_hours":      4.0,
	"max_daily_sessions":     20,
	"max_delegation_depth":   1,
	"governance_profile":     map[string]any{"risk_level": "standard", "pii_detection": true},
}

// demoClient calls the demo gateway's API with the demo admin key.
type demoClient struct {
	base, key string
}

var demoHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *demoClient) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := demoHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}
