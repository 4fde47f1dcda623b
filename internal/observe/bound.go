package observe

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vargate/vargate/internal/anomaly"
)

// Bounds on what the consumer keeps and judges of one tool input. A
// built-in tool's input has no size limit upstream (a 300 KB bash
// command, a write of a large file), but an audit record's JSON fields do
// (audit.MaxJSONBytes): the consumer stores a bounded excerpt and judges a
// bounded window, so that no input can stop the stream.
const (
	// MaxStoredInputBytes bounds the redacted input kept in the store and
	// the observed record (args_redacted). args_digest is always the
	// digest of the whole input.
	MaxStoredInputBytes = 64 << 10
	// MaxStoredStringBytes bounds each string of the stored input: a
	// longer one keeps its first and last StoredExcerptBytes around a
	// marker naming its byte count and SHA-256, e.g.
	// "head…[vargate: 307200 bytes, sha256:…; head and tail 4096 bytes shown]…tail".
	// The count and digest are of the string as redacted (the original
	// when nothing in it was redacted); args_digest covers the original
	// input whole.
	MaxStoredStringBytes = 16 << 10
	StoredExcerptBytes   = 4 << 10
	// MaxStoredKeyBytes bounds each object key of the stored input.
	MaxStoredKeyBytes = 256
	// MaxJudgedStringBytes bounds each string the anomaly detector sees:
	// a longer one is judged by its first and last JudgedWindowBytes
	// (each cut at a line boundary when there is one), and the call gets
	// an obfuscation flag naming what was not analysed (medium for a
	// command, which no ordinary agent sends at that size; low for file
	// content and other fields).
	MaxJudgedStringBytes = 256 << 10
	JudgedWindowBytes    = 128 << 10
	// MaxJudgedInputBytes bounds the text of one input the detector sees
	// in all; strings past it are not analysed (and flagged).
	MaxJudgedInputBytes = 1 << 20
)

// excerptMarker is what replaces the middle of a long string.
func excerptMarker(s string, shown int) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("…[vargate: %d bytes, sha256:%s; head and tail %d bytes shown]…", len(s), hex.EncodeToString(sum[:]), shown)
}

// headTail returns the first and last n bytes of s on rune boundaries.
func headTail(s string, n int) (head, tail string) {
	h := min(n, len(s))
	for h > 0 && h < len(s) && !utf8.RuneStart(s[h]) {
		h--
	}
	t := max(len(s)-n, h)
	for t < len(s) && !utf8.RuneStart(s[t]) {
		t++
	}
	return s[:h], s[t:]
}

// excerptString returns s, or its stored excerpt when it is longer than
// MaxStoredStringBytes.
func excerptString(s string) (string, bool) {
	if len(s) <= MaxStoredStringBytes {
		return s, false
	}
	head, tail := headTail(s, StoredExcerptBytes)
	return head + excerptMarker(s, StoredExcerptBytes) + tail, true
}

// boundStored rewrites a decoded (and redacted) input in place so that
// every string and key is bounded, and reports whether it changed.
func boundStored(v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return excerptString(x)
	case []any:
		changed := false
		for i, e := range x {
			if n, c := boundStored(e); c {
				x[i], changed = n, true
			}
		}
		return x, changed
	case map[string]any:
		changed := false
		for k, e := range x {
			if n, c := boundStored(e); c {
				x[k], changed = n, true
			}
			if len(k) > MaxStoredKeyBytes {
				nk := cut(k, MaxStoredKeyBytes)
				for _, dup := x[nk]; dup; _, dup = x[nk] {
					nk += "'"
				}
				x[nk] = x[k]
				delete(x, k)
				changed = true
			}
		}
		return x, changed
	}
	return v, false
}

// storedInput returns the redacted input as kept: doc itself when it is
// within MaxStoredInputBytes, else its bounded form, and as a last resort
// (an input made of many fields) an object with an excerpt of its text,
// its byte count and digest.
func storedInput(doc json.RawMessage, v any, digest string) json.RawMessage {
	if len(doc) <= MaxStoredInputBytes {
		return doc
	}
	if v != nil {
		if b, changed := boundStored(v); changed {
			if enc := encodeJSON(b, nil); len(enc) <= MaxStoredInputBytes {
				return enc
			}
		}
	}
	head, _ := headTail(string(doc), 16<<10)
	enc, _ := json.Marshal(struct {
		Excerpt    string `json:"vargate_excerpt"`
		InputBytes int    `json:"input_bytes"`
		Digest     string `json:"args_digest"`
	}{head, len(doc), digest})
	return enc
}

// elision is what the detector did not see of an input.
type elision struct {
	command bool // a "command" or "cmd" field was cut
	bytes   int  // bytes not analysed
}

// judgedView returns the input as the detector sees it: v itself when
// every string is within bounds, else a copy with each long string cut to
// its head and tail windows, and strings past MaxJudgedInputBytes in all
// cut to nothing.
func judgedView(v any) (any, elision) {
	var e elision
	budget := MaxJudgedInputBytes
	if !needsView(v, &budget) {
		return v, e
	}
	budget = MaxJudgedInputBytes
	return view(v, "", &budget, &e), e
}

// needsView reports whether v holds a string past the bounds.
func needsView(v any, budget *int) bool {
	switch x := v.(type) {
	case string:
		*budget -= len(x)
		return len(x) > MaxJudgedStringBytes || *budget < 0
	case []any:
		for _, e := range x {
			if needsView(e, budget) {
				return true
			}
		}
	case map[string]any:
		for k, e := range x {
			*budget -= len(k)
			if *budget < 0 || needsView(e, budget) {
				return true
			}
		}
	}
	return false
}

func view(v any, key string, budget *int, e *elision) any {
	switch x := v.(type) {
	case string:
		s := x
		if len(s) > MaxJudgedStringBytes {
			s = window(s)
		}
		if len(s) > *budget {
			s, _ = headTail(s, max(*budget, 0))
		}
		*budget -= len(s)
		if len(s) < len(x) {
			e.bytes += len(x) - len(s)
			if key == "command" || key == "cmd" {
				e.command = true
			}
		}
		return s
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = view(el, key, budget, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			if *budget <= 0 {
				e.bytes += len(k) + 1 // the member is left out
				continue
			}
			vk := k
			if len(vk) > MaxJudgedStringBytes {
				vk = window(vk)
				e.bytes += len(k) - len(vk)
			}
			*budget -= len(vk)
			out[vk] = view(el, k, budget, e)
		}
		return out
	}
	return v
}

// window is the head and tail of a long string as the detector sees them,
// each cut at a line boundary when one is near, joined by a newline so
// that a script is judged line by line on both sides.
func window(s string) string {
	head, tail := headTail(s, JudgedWindowBytes)
	if i := strings.LastIndexByte(head, '\n'); i > len(head)/2 {
		head = head[:i]
	}
	if i := strings.IndexByte(tail, '\n'); i >= 0 && i < len(tail)/2 {
		tail = tail[i+1:]
	}
	return head + "\n" + tail
}

// withElision adds the flag of an input the detector saw only in part:
// the score is what the detector's verdict computes (each category's
// worst flag, summed).
func withElision(v anomaly.Verdict, e elision) anomaly.Verdict {
	if e.bytes == 0 {
		return v
	}
	sev, what := anomaly.SeverityLow, "input"
	if e.command {
		sev, what = anomaly.SeverityMedium, "command"
	}
	flag := anomaly.Flag{Category: anomaly.CategoryObfuscation, Severity: sev,
		Explanation: fmt.Sprintf("%s longer than the analysis window; %d bytes in its middle were not analysed", what, e.bytes)}
	flags := append(append(make([]anomaly.Flag, 0, len(v.Flags)+1), v.Flags...), flag)
	worst := map[anomaly.Category]anomaly.Severity{}
	out := anomaly.Verdict{Flags: flags}
	for _, f := range flags {
		out.Severity = max(out.Severity, f.Severity)
		worst[f.Category] = max(worst[f.Category], f.Severity)
	}
	for _, s := range worst {
		out.Score += s.Weight()
	}
	return out
}
