package sim

import (
	"encoding/json"
	"maps"
	"unicode/utf8"
)

// Metadata limits of the real API.
const (
	maxMetadataPairs  = 16
	maxMetadataKey    = 64
	maxMetadataValue  = 512
	maxNameLen        = 256
	maxMCPServers     = 20
	maxMCPServerName  = 255
	maxMCPServerURL   = 2048
	maxInitialEvents  = 50
	maxSystemPromptLn = 100_000
)

func validateMetadata(m map[string]string) error {
	if len(m) > maxMetadataPairs {
		return invalid("metadata: at most %d key-value pairs are allowed", maxMetadataPairs)
	}
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > maxMetadataKey {
			return invalid("metadata: keys must be 1 to %d characters", maxMetadataKey)
		}
		if utf8.RuneCountInString(v) > maxMetadataValue {
			return invalid("metadata.%s: values must be at most %d characters", k, maxMetadataValue)
		}
	}
	return nil
}

// patchMetadata applies a metadata patch: a string upserts the key, null
// deletes it (and so does an empty string when emptyDeletes). It returns a
// new map and leaves m unchanged.
func patchMetadata(m map[string]string, patch map[string]*string, emptyDeletes bool) (map[string]string, error) {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range patch {
		if v == nil || (emptyDeletes && *v == "") {
			delete(out, k)
			continue
		}
		out[k] = *v
	}
	return out, validateMetadata(out)
}

// nonNil returns m, or an empty map when m is nil, so that it is written as
// {} rather than null.
func nonNil[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// isNull reports whether a present JSON field was sent as null.
func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// optionalString decodes a field that may be absent (nil), null, or a
// string. set reports whether it was present; null reads as "".
func optionalString(field string, raw json.RawMessage) (val string, set bool, err error) {
	if raw == nil {
		return "", false, nil
	}
	if isNull(raw) {
		return "", true, nil
	}
	if err := json.Unmarshal(raw, &val); err != nil {
		return "", true, invalid("%s: must be a string", field)
	}
	return val, true, nil
}
