package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/vargate/vargate"
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: code is the error kind, field the
// request field at fault (if any).
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// statusError carries an explicit status for the few HTTP-only failures
// (413, 415) that have no domain kind.
type statusError struct {
	status int
	code   string
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// writeError writes err in the one error shape. Internal errors get a
// generic message; the detail goes to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	reqID := vargate.RequestID(r.Context())
	var se *statusError
	if errors.As(err, &se) {
		writeJSON(w, se.status, ErrorBody{ErrorDetail{Code: se.code, Message: se.msg, RequestID: reqID}})
		return
	}
	kind := vargate.KindOf(err)
	status := kind.HTTPStatus()
	detail := ErrorDetail{Code: string(kind), RequestID: reqID}
	var ve *vargate.Error
	if kind != vargate.KindInternal && errors.As(err, &ve) {
		detail.Message = ve.Message
		detail.Field = ve.Field
	} else {
		detail.Message = "internal error; the request ID identifies it in the gateway's log"
	}
	if status >= 500 {
		s.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String(logKeyRequestID, reqID), slog.String(logKeyRoute, r.Pattern), slog.Any(logKeyError, err))
	}
	if kind == vargate.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vargate"`)
	}
	writeJSON(w, status, ErrorBody{detail})
}

// decodeJSON reads a JSON object body into v, rejecting unknown fields,
// trailing data and bodies over the limit, with errors that name the field.
// An empty body decodes as {} when allowEmpty is set.
func decodeJSON(r *http.Request, v any, allowEmpty bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &statusError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json"}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &statusError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body larger than %d bytes", mbe.Limit)}
		}
		return vargate.Invalid("body", "could not read request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if allowEmpty {
			return nil
		}
		return vargate.Invalid("body", "a JSON object is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return vargate.Invalid("body", "unexpected data after the JSON object")
	}
	return nil
}

// jsonError turns a decoding error into an Invalid error naming the field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return vargate.Invalid(field, "must be of type %s, not %s", jsonType(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return vargate.Invalid("body", "malformed JSON at byte %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return vargate.Invalid(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return vargate.Invalid("body", "truncated JSON")
	}
	return vargate.Invalid("body", "invalid JSON: %v", err)
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}
