package main

import (
	"github.com/vargate/vargate/internal/govern"
	"github.com/vargate/vargate/internal/session"
)

// The session service is the governor's Configs; as a Liveness it makes
// an approved action re-check its session and agent when it runs.
var _ govern.Liveness = (*session.Service)(nil)
