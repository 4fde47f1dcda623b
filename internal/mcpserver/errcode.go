package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/vargate/vargate"
	"github.com/vargate/vargate/internal/govern"
)

// JSON-RPC error codes of this server, besides the SDK's.
const (
	// codeRefused answers a request refused before JSON-RPC: no or a bad
	// credential, a foreign origin or address (implementation-defined
	// server error range).
	codeRefused = -32001
	// methodNotFound is the code of an unknown or undeclared method.
	methodNotFound = jsonrpc.CodeMethodNotFound
)

// rpcKind is how an error kind is answered over JSON-RPC: its code, and
// whether its message may be shown to the client.
type rpcKind struct {
	code int64
	tell bool
}

// rpcKinds maps our error kinds to JSON-RPC errors: the one place that
// does. A kind not listed is an internal error whose message is not shown.
var rpcKinds = map[vargate.Kind]rpcKind{
	vargate.KindUnauthorized: {codeRefused, true},
	vargate.KindForbidden:    {codeRefused, true},
	vargate.KindUnavailable:  {jsonrpc.CodeInternalError, true},
	vargate.KindRateLimited:  {jsonrpc.CodeInternalError, true},
}

// rpcCode returns the JSON-RPC code of an error kind.
func rpcCode(k vargate.Kind) int64 {
	if rk, ok := rpcKinds[k]; ok {
		return rk.code
	}
	return jsonrpc.CodeInternalError
}

// callError turns an error of the governor into the JSON-RPC error of a
// tools/call: an unknown tool is invalid params; anything else is
// answered as rpcKinds says, with a message that says nothing unless the
// kind may tell it. The governor logged the error
// when it returned it, so it is logged here only at debug level, with
// the call's tenant and tool.
func callError(ctx context.Context, log *slog.Logger, p vargate.Principal, tool string, err error) *jsonrpc.Error {
	if errors.Is(err, govern.ErrUnknownTool) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", tool)}
	}
	log.LogAttrs(ctx, slog.LevelDebug, "governed call failed",
		slog.String(logKeyTenant, p.TenantID), slog.String(logKeyTool, tool), slog.String(logKeyError, err.Error()))
	kind := vargate.KindOf(err)
	msg := "the gateway could not process this call"
	var ve *vargate.Error
	if errors.As(err, &ve) && rpcKinds[kind].tell {
		msg = ve.Message
	}
	return &jsonrpc.Error{Code: rpcCode(kind), Message: msg}
}
