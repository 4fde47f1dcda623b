package audit

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/go-json-experiment/json/jsontext"
)

// The digest forms. A digest names its form by its prefix, so that a
// record can be checked against the arguments it names whatever year it
// was written.
const (
	// DigestPrefix starts a Digest: SHA-256 over the RFC 8785 (JCS)
	// canonical form of a JSON document. Records before it used
	// LegacyDigestPrefix for arguments (SHA-256 over a compact,
	// key-sorted encoding/json form with numbers as written).
	DigestPrefix = "jcs-sha256:"
	// BytesDigestPrefix starts a BytesDigest: SHA-256 over bytes as they
	// are (results, prompts, arguments that are not JSON).
	BytesDigestPrefix = "sha256:"
	// LegacyDigestPrefix is the prefix of argument digests written before
	// DigestPrefix existed; it is BytesDigestPrefix, and such a digest can
	// only be recomputed with the legacy form.
	LegacyDigestPrefix = BytesDigestPrefix
)

// Digest is the one digest of a JSON document (tool arguments above all)
// that every part of the gateway writes and compares: DigestPrefix and
// the hex SHA-256 of the document's RFC 8785 canonical form, so that two
// documents that differ only in member order, whitespace or escapes have
// the same digest. RFC 8785 reads numbers as IEEE 754 doubles, so two
// integers beyond 2^53 that round to the same double share a digest. A
// document that is not valid JSON (or has duplicate member names or
// invalid UTF-8) is hashed as its bytes, with BytesDigestPrefix.
func Digest(doc []byte) string {
	c := jsontext.Value(append([]byte(nil), doc...))
	if err := c.Canonicalize(); err != nil {
		return BytesDigest(doc)
	}
	return DigestCanonical(c)
}

// DigestCanonical is Digest of a document already in RFC 8785 form (as
// Normalize leaves a record's JSON fields), without canonicalising again.
func DigestCanonical(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return DigestPrefix + hex.EncodeToString(sum[:])
}

// BytesDigest returns BytesDigestPrefix and the hex SHA-256 of b.
func BytesDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return BytesDigestPrefix + hex.EncodeToString(sum[:])
}
