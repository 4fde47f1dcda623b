// Package audit owns the audit trail: append-only records in a per-tenant
// hash chain with a gapless sequence number, a Merkle tree (RFC 6962) over
// each tenant's records, Ed25519-signed checkpoints in the C2SP
// tlog-checkpoint form, inclusion and consistency proofs, the verifier, and
// the export bundle an auditor checks offline.
//
// Records reach the database through Log, a group-commit writer: an Append
// returns only after the record's transaction has committed (and so been
// fsynced). Chain assignment happens inside the store's transaction under a
// per-tenant row lock (Head.Seal), so several gateway processes sharing one
// database extend one chain, never a fork.
//
// The canonical encoding that each record's hash covers is documented in
// docs/AUDIT.md and in Record.Encode; changing it breaks every existing
// chain, so it is versioned.
//
// It imports only the root package and libraries. Stores implement Store
// (internal/sqlstore); it must not import adapters or cmd.
package audit
