package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vargate/vargate"
)

// ControlPlaneEvent names a control-plane action: it is the Decision of
// the action's SourceControlPlane record and the "event" of its Detail.
type ControlPlaneEvent string

// The control-plane events recorded through ControlPlane. (Policy, agent,
// tool, webhook and session-setting changes name their own events in the
// packages that make them.)
const (
	// EventTenantCreated: a tenant was created (CLI, or the bootstrap of
	// a fresh gateway). Subject: TenantSubject.
	EventTenantCreated ControlPlaneEvent = "tenant.created"
	// EventKeyCreated: an API key was issued. Subject: KeySubject.
	EventKeyCreated ControlPlaneEvent = "api_key.created"
	// EventKeyRevoked: an API key was revoked. Subject: KeySubject.
	EventKeyRevoked ControlPlaneEvent = "api_key.revoked"
	// EventSignIn: a key signed in to the dashboard. The actor is that key.
	EventSignIn ControlPlaneEvent = "dashboard.sign_in"
	// EventSignInFailed: a known key of the tenant was refused at the
	// dashboard's sign-in (revoked, or not a human role). Subject:
	// SignInSubject. Unknown keys name no tenant; they are only logged.
	EventSignInFailed ControlPlaneEvent = "dashboard.sign_in_failed"
	// EventSignOut: a dashboard session was ended by its user.
	EventSignOut ControlPlaneEvent = "dashboard.sign_out"
	// EventWebhookTested: a test event was sent to the tenant's webhook.
	EventWebhookTested ControlPlaneEvent = "webhook.test_sent"
	// EventWebhookRetried: a failed webhook delivery was queued again.
	EventWebhookRetried ControlPlaneEvent = "webhook_delivery.retried"
)

// Actors that are not an API key.
const (
	// ActorCLI is the operator at the gateway's command line (vargate
	// tenant / key), who acts with direct access to the database.
	ActorCLI = "cli"
	// ActorSystem is the gateway itself (the bootstrap of a fresh
	// database).
	ActorSystem = "system"
)

// Actor is who performed a control-plane action: the API key (ID and
// name) and its role, or ActorCLI / ActorSystem with no name.
type Actor struct {
	ID   string
	Name string
	Role vargate.Role
}

// ActorFrom returns the actor of the principal in ctx, or an actor with
// ID fallback if ctx carries none.
func ActorFrom(ctx context.Context, fallback string) Actor {
	if p, ok := vargate.FromContext(ctx); ok && p.KeyID != "" {
		return Actor{ID: p.KeyID, Name: p.KeyName, Role: p.Role}
	}
	return Actor{ID: fallback}
}

// ControlPlaneDetail is the Detail of a record built by ControlPlane.
type ControlPlaneDetail struct {
	Event     ControlPlaneEvent `json:"event"`
	ActorName string            `json:"actor_name,omitempty"`
	ActorRole vargate.Role      `json:"actor_role,omitempty"`
	// Subject is what the action was about (KeySubject, TenantSubject,
	// SignInSubject); never a secret.
	Subject any `json:"subject,omitempty"`
}

// KeySubject is the key an EventKeyCreated or EventKeyRevoked record is
// about.
type KeySubject struct {
	KeyID   string       `json:"key_id"`
	Name    string       `json:"name,omitempty"`
	Role    vargate.Role `json:"role,omitempty"`
	AgentID string       `json:"agent_id,omitempty"`
}

// TenantSubject is the tenant an EventTenantCreated record is about.
type TenantSubject struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

// SignInSubject says why a sign-in was refused.
type SignInSubject struct {
	KeyID  string `json:"key_id"`
	Reason string `json:"reason"`
	// Client is the address the attempt came from.
	Client string `json:"client,omitempty"`
}

// ControlPlane returns the record of a control-plane action of tenantID
// by actor. Append it (with a context that outlives the request: the
// action is done).
func ControlPlane(tenantID string, ev ControlPlaneEvent, actor Actor, subject any) (Record, error) {
	b, err := json.Marshal(ControlPlaneDetail{Event: ev, ActorName: actor.Name, ActorRole: actor.Role, Subject: subject})
	if err != nil {
		return Record{}, fmt.Errorf("encode %s record: %w", ev, err)
	}
	return Record{TenantID: tenantID, Source: SourceControlPlane, Decision: string(ev), Actor: actor.ID, Detail: b}, nil
}

// AddActorName sets detail["actor_name"] to the name of the API key in
// ctx when it is the record's actor (keyID), so that records written with
// a bare key ID as Actor also say whose key it was.
func AddActorName(ctx context.Context, keyID string, detail map[string]any) {
	if p, ok := vargate.FromContext(ctx); ok && p.KeyID == keyID && p.KeyName != "" {
		detail["actor_name"] = p.KeyName
	}
}
