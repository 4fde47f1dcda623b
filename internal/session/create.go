package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/agent"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/pii"
	"github.com/vargate/vargate/internal/policy"
	"github.com/vargate/vargate/internal/vault"
)

// Limits of a create request.
const (
	MaxMessageBytes   = 100_000
	MaxMetadataPairs  = 8
	MaxMetadataKey    = 64
	MaxMetadataValue  = 512
	metadataKeyPrefix = "vargate_" // reserved for the gateway's own keys
)

// CreateRequest asks for a governed session.
type CreateRequest struct {
	TenantID string
	AgentID  string
	// UserMessage is the first message, sent once the event consumer is
	// attached.
	UserMessage string
	// ParentSessionID names the running session of the parent agent that
	// delegates to this one (optional).
	ParentSessionID string
	// Metadata is passed to the Anthropic session (keys starting with
	// "vargate_" are reserved).
	Metadata map[string]string
	// Actor is the key ID of the caller.
	Actor string
}

// created tracks what a creation made upstream, to undo it on failure.
type created struct {
	client    *Client
	vaultID   string
	sessionID string
	attached  bool
}

// Create makes a governed session in the order the setup guide gives:
// policy check, budget reservation, governance prompt, upstream
// resources, event consumer, audit record, first message. On failure
// nothing it made is left behind and the budget slot is released.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Session, error) {
	if err := validateCreate(req); err != nil {
		return Session{}, err
	}
	cfg, err := s.Agents.Get(ctx, req.TenantID, req.AgentID)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return Session{}, vargate.Invalid("agent_id", "agent %s does not exist in this tenant", req.AgentID)
		}
		return Session{}, err
	}
	if cfg.Archived() {
		return Session{}, vargate.Errorf(vargate.KindConflict, "agent %s is archived; new sessions cannot use it", cfg.ID)
	}
	chain, err := s.delegationChain(ctx, cfg, req)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	token := auth.NewToken(auth.SessionTokenPrefix)
	sess := Session{
		ID: vargate.NewID("vs-", 8), TenantID: req.TenantID, AgentID: cfg.ID, AgentVersion: cfg.Version,
		Status: StatusCreating, TokenID: vargate.NewID("vst-", 8), TokenHash: auth.HashToken(token),
		MCPServerURL: s.MCPServerURL, DelegationChain: chain, ParentSessionID: req.ParentSessionID,
		CreatedBy: req.Actor, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Duration(cfg.MaxSessionHours * float64(time.Hour))).Truncate(time.Microsecond),
	}

	// 1. The configuration against the tenant's policy.
	preflight, err := s.checkPolicy(ctx, cfg, sess)
	if err != nil {
		return Session{}, err
	}

	// 2. Budgets, atomically: the reservation is the session row.
	settings, err := s.Store.Settings(ctx, req.TenantID)
	if err != nil {
		return Session{}, err
	}
	budget := Budget{
		MaxConcurrent:  settingOr(settings.MaxConcurrent, s.maxConcurrent()),
		MaxDailyTenant: settingOr(settings.MaxDaily, s.MaxDailyTenant),
		MaxDailyAgent:  cfg.MaxDailySessions,
		DayStart:       now.Truncate(24 * time.Hour),
	}
	if err := s.Store.Reserve(ctx, sess, budget); err != nil {
		return Session{}, err
	}

	// 3. The governance prompt and its hash.
	tmpl := ""
	if settings.GovernanceTemplate != nil {
		tmpl = *settings.GovernanceTemplate
	}
	prompt := RenderPrompt(tmpl, cfg, sess)
	sess.SystemPromptHash = prompt.Hash

	// 4–7 run under the creation timeout; a failure undoes everything.
	cctx, cancel := context.WithTimeout(ctx, s.createTimeout())
	defer cancel()
	var made created
	step, err := s.provision(cctx, &sess, cfg, prompt, token, req, &made)
	if err == nil {
		step, err = s.start(cctx, &sess, cfg, prompt, preflight, budget, req, &made)
	}
	if err != nil {
		s.abandon(ctx, sess, step, err, &made)
		return Session{}, err
	}
	return s.Store.Get(ctx, sess.TenantID, sess.ID)
}

// provision makes the upstream resources: environment and agent (the
// configuration's mirror), the session's vault and credential, and the
// session.
func (s *Service) provision(ctx context.Context, sess *Session, cfg agent.Config, prompt Prompt, token string, req CreateRequest, made *created) (string, error) {
	client, err := s.Upstream.Client(ctx, sess.TenantID, vault.Purpose{SessionID: sess.ID, Actor: req.Actor})
	if err != nil {
		return StepCredential, err
	}
	made.client = client
	sess.Account = client.Account
	m, step, err := s.mirror(ctx, client, cfg)
	if err != nil {
		return step, err
	}
	sess.AnthropicAgentID, sess.EnvironmentID = m.AnthropicAgentID, m.EnvironmentID

	v, err := client.Beta.Vaults.New(ctx, anthropic.BetaVaultNewParams{
		DisplayName: "Vargate session " + sess.ID,
		Metadata:    map[string]string{"vargate_tenant_id": sess.TenantID, "vargate_session_id": sess.ID},
	})
	if err != nil {
		return StepVault, upstreamError(StepVault, err)
	}
	made.vaultID, sess.VaultID = v.ID, v.ID
	// Recorded at once, so that a crash before the session exists leaves
	// the sweeper something to delete.
	if err := s.Store.Prepare(ctx, *sess); err != nil {
		return StepVault, err
	}
	_, err = client.Beta.Vaults.Credentials.New(ctx, v.ID, anthropic.BetaVaultCredentialNewParams{
		DisplayName: anthropic.String("Vargate MCP token of " + sess.ID),
		Auth: anthropic.BetaVaultCredentialNewParamsAuthUnion{OfStaticBearer: &anthropic.BetaManagedAgentsStaticBearerCreateParams{
			MCPServerURL: sess.MCPServerURL, Token: token,
		}},
	})
	if err != nil {
		return StepVault, upstreamError(StepVault, err)
	}

	meta := map[string]string{}
	for k, v := range req.Metadata {
		meta[k] = v
	}
	meta["vargate_tenant_id"], meta["vargate_session_id"], meta["vargate_agent_id"] = sess.TenantID, sess.ID, cfg.ID
	up, err := client.Beta.Sessions.New(ctx, anthropic.BetaSessionNewParams{
		Agent: anthropic.BetaSessionNewParamsAgentUnion{OfBetaManagedAgentsAgentWithOverridess: &anthropic.BetaManagedAgentsAgentWithOverridesParams{
			ID: m.AnthropicAgentID, Version: anthropic.Int(m.AnthropicVersion), System: anthropic.String(prompt.Text),
		}},
		EnvironmentID: m.EnvironmentID,
		VaultIDs:      []string{v.ID},
		Title:         anthropic.String(truncate("Vargate "+sess.ID+": "+cfg.Name, 200)),
		Metadata:      meta,
	})
	if err != nil {
		return StepSession, upstreamError(StepSession, err)
	}
	made.sessionID, sess.AnthropicSessionID = up.ID, up.ID
	if err := s.Store.Prepare(ctx, *sess); err != nil {
		return StepSession, err
	}
	return "", nil
}

// start attaches the observer, audits the creation, sends the first
// message and makes the session active.
func (s *Service) start(ctx context.Context, sess *Session, cfg agent.Config, prompt Prompt, preflight []toolCheck, b Budget, req CreateRequest, made *created) (string, error) {
	if err := s.observer().Attach(ctx, *sess); err != nil {
		return StepStream, upstreamError(StepStream, err)
	}
	made.attached = true

	msgDigest := sha256.Sum256([]byte(req.UserMessage))
	detail := map[string]any{
		"event":                audit.EventSessionCreated,
		"session_id":           sess.ID,
		"agent_id":             cfg.ID,
		"agent_version":        cfg.Version,
		"system_prompt":        prompt.Text,
		"system_prompt_hash":   prompt.Hash,
		"user_message":         pii.RedactString(req.UserMessage),
		"user_message_digest":  "sha256:" + hex.EncodeToString(msgDigest[:]),
		"anthropic_session_id": sess.AnthropicSessionID,
		"anthropic_agent_id":   sess.AnthropicAgentID,
		"environment_id":       sess.EnvironmentID,
		"vault_id":             sess.VaultID,
		"mcp_server_url":       sess.MCPServerURL,
		"delegation_chain":     sess.DelegationChain,
		"parent_session_id":    sess.ParentSessionID,
		"expires_at":           sess.ExpiresAt,
		"policy_check":         preflight,
		"budget": map[string]any{"max_concurrent": b.MaxConcurrent, "max_daily_tenant": b.MaxDailyTenant,
			"max_daily_agent": b.MaxDailyAgent},
	}
	// The creation is recorded, with the prompt and its hash, before the
	// agent receives anything: no record, no session.
	if err := s.audit(ctx, audit.Record{
		TenantID: sess.TenantID, Source: audit.SourceControlPlane, SessionID: sess.ID, AgentID: cfg.ID,
		Decision: audit.EventSessionCreated, Actor: req.Actor,
	}, detail); err != nil {
		return "audit", vargate.Wrap(vargate.KindUnavailable, err, "the session's audit record could not be written")
	}

	client := made.client
	if _, err := client.Beta.Sessions.Events.Send(ctx, sess.AnthropicSessionID, anthropic.BetaSessionEventSendParams{
		Events: []anthropic.BetaManagedAgentsEventParamsUnion{userMessage(req.UserMessage)},
	}); err != nil {
		return StepMessage, upstreamError(StepMessage, err)
	}
	// The observer may already have moved the session on (a very short
	// turn); only a session still creating becomes active here.
	_, err := s.Store.Transition(ctx, Transition{TenantID: sess.TenantID, ID: sess.ID,
		From: []Status{StatusCreating}, To: StatusActive, At: s.now()})
	if err != nil && !vargate.IsKind(err, vargate.KindConflict) {
		return "activate", err
	}
	return "", nil
}

// abandon undoes a failed creation: stop following, delete the upstream
// session and vault, release the reservation, and record the failure.
// It runs on its own context so a client that went away does not leave
// half a session behind.
func (s *Service) abandon(ctx context.Context, sess Session, step string, cause error, made *created) {
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	log := s.logger().With(slog.String(logKeySession, sess.ID), slog.String(logKeyTenant, sess.TenantID))
	if made.attached {
		s.detach(sess.ID)
	}
	if c := made.client; c != nil {
		deleteUpstream(bg, c, made.sessionID, made.vaultID, log)
	}
	if err := s.Store.Release(bg, sess.TenantID, sess.ID); err != nil && !vargate.IsKind(err, vargate.KindConflict) {
		log.LogAttrs(bg, slog.LevelError, "could not release the budget of a failed creation", slog.String(logKeyError, err.Error()))
	}
	detail := map[string]any{"event": audit.EventSessionCreateFailed, "step": step, "error": vargate.KindOf(cause),
		"message": errorMessage(cause), "anthropic_request_id": requestID(cause), "agent_version": sess.AgentVersion}
	if err := s.audit(bg, audit.Record{TenantID: sess.TenantID, Source: audit.SourceControlPlane, SessionID: sess.ID,
		AgentID: sess.AgentID, Decision: audit.EventSessionCreateFailed, Actor: sess.CreatedBy}, detail); err != nil {
		log.LogAttrs(bg, slog.LevelError, "could not audit a failed creation", slog.String(logKeyError, err.Error()))
	}
}

// deleteUpstream removes what a creation that did not finish made
// upstream: the session (interrupted first) and its vault. Failures are
// logged; what is already gone is fine.
func deleteUpstream(ctx context.Context, c *Client, sessionID, vaultID string, log *slog.Logger) {
	if sessionID != "" {
		_, _ = c.Beta.Sessions.Events.Send(ctx, sessionID, anthropic.BetaSessionEventSendParams{
			Events: []anthropic.BetaManagedAgentsEventParamsUnion{interruptEvent()}})
		if _, err := c.Beta.Sessions.Delete(ctx, sessionID, anthropic.BetaSessionDeleteParams{}); err != nil && !notFoundUpstream(err) {
			log.LogAttrs(ctx, slog.LevelWarn, "could not delete the upstream session of an unfinished creation", slog.String(logKeyError, err.Error()))
		}
	}
	if vaultID != "" {
		if _, err := c.Beta.Vaults.Delete(ctx, vaultID, anthropic.BetaVaultDeleteParams{}); err != nil && !notFoundUpstream(err) {
			log.LogAttrs(ctx, slog.LevelWarn, "could not delete the vault of an unfinished creation", slog.String(logKeyError, err.Error()))
		}
	}
}

// mirror returns the Anthropic environment and agent for cfg on the
// client's account, creating or updating them when the configuration
// changed since they were made.
func (s *Service) mirror(ctx context.Context, c *Client, cfg agent.Config) (Mirror, string, error) {
	unlock := s.mirrorLocks.lock(cfg.ID + "\x00" + c.Account)
	defer unlock()
	m, err := s.Store.Mirror(ctx, cfg.ID, c.Account)
	switch {
	case vargate.IsKind(err, vargate.KindNotFound):
		m, err = Mirror{AgentID: cfg.ID, Account: c.Account}, nil
	case err != nil:
		return Mirror{}, StepAgent, err
	}
	changed := false
	if hash := environmentHash(cfg); m.EnvironmentID == "" || m.EnvironmentHash != hash {
		env, err := c.Beta.Environments.New(ctx, environmentParams(cfg))
		if err != nil {
			return Mirror{}, StepEnvironment, upstreamError(StepEnvironment, err)
		}
		m.EnvironmentID, m.EnvironmentHash, changed = env.ID, hash, true
	}
	if m.AnthropicAgentID == "" || m.ConfigVersion != cfg.Version {
		var a *anthropic.BetaManagedAgentsAgent
		if m.AnthropicAgentID != "" {
			a, err = c.Beta.Agents.Update(ctx, m.AnthropicAgentID, agentUpdateParams(cfg, s.MCPServerURL, m.AnthropicVersion))
			if notFoundUpstream(err) {
				a, err = nil, nil // deleted upstream: make a new one
			}
		}
		if a == nil && err == nil {
			a, err = c.Beta.Agents.New(ctx, agentNewParams(cfg, s.MCPServerURL))
		}
		if err != nil {
			return Mirror{}, StepAgent, upstreamError(StepAgent, err)
		}
		m.AnthropicAgentID, m.AnthropicVersion, m.ConfigVersion, changed = a.ID, a.Version, cfg.Version, true
	}
	if changed {
		m.UpdatedAt = s.now()
		if err := s.Store.SaveMirror(ctx, m); err != nil {
			return Mirror{}, StepAgent, err
		}
	}
	return m, "", nil
}

// delegationChain returns the configuration IDs from the root down to
// cfg, refusing a chain deeper than an ancestor allows, and checks the
// parent session when one is named.
func (s *Service) delegationChain(ctx context.Context, cfg agent.Config, req CreateRequest) ([]string, error) {
	configs, err := s.Agents.Chain(ctx, cfg)
	if err != nil {
		if vargate.IsKind(err, vargate.KindInvalid) {
			return nil, vargate.Wrap(vargate.KindForbidden, err, "delegation refused: %s", errorMessage(err))
		}
		return nil, err
	}
	chain := make([]string, len(configs))
	for i, c := range configs {
		chain[i] = c.ID
	}
	if req.ParentSessionID == "" {
		return chain, nil
	}
	parent, err := s.Get(ctx, req.TenantID, req.ParentSessionID)
	if err != nil {
		if vargate.IsKind(err, vargate.KindNotFound) {
			return nil, vargate.Invalid("parent_session_id", "session %s does not exist in this tenant", req.ParentSessionID)
		}
		return nil, err
	}
	if cfg.ParentAgentID == "" || parent.AgentID != cfg.ParentAgentID {
		return nil, vargate.Invalid("parent_session_id", "session %s is not a session of agent %s's parent", parent.ID, cfg.ID)
	}
	if parent.Status != StatusActive && parent.Status != StatusAwaitingApproval {
		return nil, vargate.Errorf(vargate.KindConflict, "parent session %s is %s", parent.ID, parent.Status)
	}
	if !slices.Equal(parent.DelegationChain, chain[:len(chain)-1]) {
		return nil, vargate.Errorf(vargate.KindConflict, "parent session %s runs a different delegation chain (%s)",
			parent.ID, strings.Join(parent.DelegationChain, " → "))
	}
	return chain, nil
}

// toolCheck is one tool's dry-run decision, recorded with the creation.
type toolCheck struct {
	Tool          string   `json:"tool"`
	Decision      string   `json:"decision"`
	Reasons       []string `json:"reasons,omitempty"`
	PolicyVersion string   `json:"policy_version"`
	DecisionID    string   `json:"decision_id"`
}

// checkPolicy evaluates each allowed tool, with empty arguments, against
// the tenant's active policy as the new session would call it. A session
// is refused when the policy cannot be evaluated (fail closed) or when it
// denies every tool the configuration allows: such an agent could do
// nothing governed. Per-call rules (arguments, time, anomaly score) still
// apply to every real call.
func (s *Service) checkPolicy(ctx context.Context, cfg agent.Config, sess Session) ([]toolCheck, error) {
	if s.Policy == nil || len(cfg.AllowedTools) == 0 {
		return []toolCheck{}, nil
	}
	checks := make([]toolCheck, 0, len(cfg.AllowedTools))
	denied := 0
	var reasons []string
	for _, tool := range cfg.AllowedTools {
		call, findings, err := policy.NewCall(tool, json.RawMessage(`{}`))
		if err != nil {
			return nil, err
		}
		in := &policy.Input{
			Tenant:  policy.Tenant{ID: cfg.TenantID},
			Agent:   PolicyAgent(cfg, sess.DelegationDepth()),
			Session: policy.Session{ID: sess.ID},
			Call:    call, PII: findings, Time: sess.CreatedAt,
		}
		d, err := s.Policy.Decide(ctx, in)
		if err != nil {
			return nil, vargate.Wrap(vargate.KindUnavailable, err, "the tenant's policy could not be evaluated; no session is created without it")
		}
		checks = append(checks, toolCheck{Tool: tool, Decision: d.Decision, Reasons: d.Reasons, PolicyVersion: d.PolicyVersion, DecisionID: d.DecisionID})
		if d.Decision == policy.Deny {
			denied++
			reasons = append(reasons, tool+": "+strings.Join(d.Reasons, "; "))
		}
	}
	if denied == len(cfg.AllowedTools) {
		return nil, vargate.Errorf(vargate.KindForbidden, "the tenant's policy denies every tool agent %s may use (%s)", cfg.ID, strings.Join(reasons, " | "))
	}
	return checks, nil
}

// PolicyAgent is the policy input's agent for a configuration at a
// delegation depth.
func PolicyAgent(cfg agent.Config, depth int) policy.Agent {
	return policy.Agent{
		ID: cfg.ID, AllowedTools: cfg.AllowedTools, RequireHumanApproval: cfg.RequireHumanApproval,
		GovernanceProfile: policy.GovernanceProfile{RiskLevel: cfg.GovernanceProfile.RiskLevel, PIIDetection: cfg.GovernanceProfile.PIIDetection},
		Delegation:        policy.Delegation{Depth: depth, MaxDepth: cfg.MaxDelegationDepth},
	}
}

func validateCreate(req CreateRequest) error {
	if req.AgentID == "" {
		return vargate.Invalid("agent_id", "is required")
	}
	if strings.TrimSpace(req.UserMessage) == "" {
		return vargate.Invalid("user_message", "is required")
	}
	if len(req.UserMessage) > MaxMessageBytes || !utf8.ValidString(req.UserMessage) {
		return vargate.Invalid("user_message", "must be valid UTF-8 of at most %d bytes", MaxMessageBytes)
	}
	if len(req.Metadata) > MaxMetadataPairs {
		return vargate.Invalid("metadata", "at most %d pairs", MaxMetadataPairs)
	}
	for k, v := range req.Metadata {
		switch {
		case k == "" || len(k) > MaxMetadataKey:
			return vargate.Invalid("metadata", "keys must be 1 to %d bytes", MaxMetadataKey)
		case strings.HasPrefix(k, metadataKeyPrefix):
			return vargate.Invalid("metadata."+k, "keys starting with %q are reserved", metadataKeyPrefix)
		case len(v) > MaxMetadataValue:
			return vargate.Invalid("metadata."+k, "at most %d bytes", MaxMetadataValue)
		}
	}
	return nil
}

func (s *Service) maxConcurrent() int {
	return vargate.OrDefault(s.MaxConcurrent, DefaultMaxConcurrent)
}

func (s *Service) createTimeout() time.Duration {
	return vargate.OrDefault(s.CreateTimeout, DefaultCreateTimeout)
}

// settingOr returns a tenant setting, or def when the tenant left it
// unset (nil). Unlike vargate.OrDefault, a set zero stays zero.
func settingOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// errorMessage is the client-safe message of err.
func errorMessage(err error) string {
	var ve *vargate.Error
	if errors.As(err, &ve) {
		return ve.Message
	}
	return fmt.Sprint(vargate.KindOf(err))
}
