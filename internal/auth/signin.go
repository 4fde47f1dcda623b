package auth

import (
	"context"
	"time"

	"github.com/vargate/vargate"
)

// Signin is one signed-in dashboard session as a SigninStore keeps it: the
// hash of its cookie, never the cookie; the hash of the key, never the key.
type Signin struct {
	// ID is the hex SHA-256 of the cookie value.
	ID        string
	Principal vargate.Principal
	// Tenant is the tenant's name, for the page header.
	Tenant    string
	KeyHash   []byte
	CSRF      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// SigninStore keeps the dashboard's sign-in sessions: internal/web keeps
// them in memory unless given one; sqlstore.SigninStore keeps them in the
// database, so that gateways behind one load balancer share them and a
// restart keeps them.
type SigninStore interface {
	// CreateSignin stores a new session, first deleting those last seen
	// before idleBefore or created before createdBefore.
	CreateSignin(ctx context.Context, s Signin, idleBefore, createdBefore time.Time) error
	// Signin returns a session by ID, or a KindNotFound error.
	Signin(ctx context.Context, id string) (Signin, error)
	// TouchSignin sets the session's LastSeen.
	TouchSignin(ctx context.Context, id string, at time.Time) error
	// DeleteSignin ends a session; no error if there is none.
	DeleteSignin(ctx context.Context, id string) error
}
