package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxBodyBytes bounds a request body; larger bodies get 413 request_too_large.
const maxBodyBytes = 32 << 20

// apiError is an error the simulator reports to the client, with the HTTP
// status and error type the real API uses.
type apiError struct {
	status int
	typ    string
	msg    string
}

// noRetry reports whether the client must not retry: a conflict stays a
// conflict (the SDK retries a 409 unless x-should-retry says false).
func (e *apiError) noRetry() bool { return e.status == http.StatusConflict }

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.typ, e.msg) }

func invalid(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(format, args...)}
}

// conflict is a 409. The real API has no separate conflict type: it reports
// invalid_request_error.
func conflict(format string, args ...any) error {
	return &apiError{http.StatusConflict, "invalid_request_error", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "not_found_error", fmt.Sprintf(format, args...)}
}

func unauthenticated(msg string) error {
	return &apiError{http.StatusUnauthorized, "authentication_error", msg}
}

func unavailable(msg string) error {
	return &apiError{529, "overloaded_error", msg}
}

// errorBody is the real API's error envelope.
type errorBody struct {
	Type      string      `json:"type"`
	Error     errorDetail `json:"error"`
	RequestID string      `json:"request_id"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// writeError writes err as the real API's error body. Errors that are not
// apiErrors are internal: the client sees a generic api_error.
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "api_error", "Internal server error"}
	}
	if ae.noRetry() {
		w.Header().Set("x-should-retry", "false")
	}
	writeJSON(w, ae.status, errorBody{
		Type:      "error",
		Error:     errorDetail{Type: ae.typ, Message: ae.msg},
		RequestID: w.Header().Get("request-id"),
	})
}

// decodeParams checks the request body against the SDK parameter type P
// (see checkParams), then decodes it into v.
func decodeParams[P any](w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if err := checkParams[P](body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalid("The request body is not valid JSON: %v", err)
	}
	return nil
}

// readBody reads the request body, bounded by maxBodyBytes; an empty body
// reads as {}, as the SDK sends none for archive calls.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes."}
		}
		return nil, invalid("read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	return body, nil
}
