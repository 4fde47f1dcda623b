package observe

import (
	"context"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/vargate/vargate/internal/session"
	"github.com/vargate/vargate/internal/vault"
)

// SessionUpstream is the Upstream of a gateway: the session package's
// client factory, which releases the tenant's Anthropic key from the vault
// (one audited use per client) for the session named.
type SessionUpstream struct{ Upstream *session.Upstream }

// Client implements Upstream.
func (u SessionUpstream) Client(ctx context.Context, tenantID, sessionID string) (*anthropic.Client, error) {
	c, err := u.Upstream.Client(ctx, tenantID, vault.Purpose{SessionID: sessionID, Actor: ActorSystem})
	if err != nil {
		return nil, err
	}
	return &c.Client, nil
}
