// Package vault keeps the credentials a tenant's governed tools need — its
// Anthropic API key, SMTP passwords, database URLs, tokens — so that no
// agent ever sees them.
//
// Envelope encryption: every tenant has its own 256-bit data key (DEK),
// stored only wrapped by a key-encryption key (KEK) held by a KeyProvider
// (a local key file, or an HSM through PKCS#11). Each credential value is
// sealed with AES-256-GCM under its tenant's DEK, with additional data that
// binds the ciphertext to tenant, credential ID, tool, name, type and
// version, so a value copied to another row, tenant or version fails to
// open. The KEK can be rotated while the gateway runs (RotateKEK rewraps
// every DEK; the credentials themselves are not touched).
//
// Values leave the vault only through Use, as a Secret whose String,
// Format, LogValue and MarshalJSON redact; every Use is reported to the
// Auditor first and fails closed if the audit write fails. Metadata (List,
// Get) never contains a value; the fingerprint is a keyed MAC, useless for
// guessing a low-entropy password without the tenant's DEK.
//
// It imports only the root package and, for the PKCS#11 provider,
// github.com/ThalesGroup/crypto11 (cgo). Stores implement Store
// (internal/sqlstore); audit and HTTP are adapted in cmd and httpapi.
package vault
