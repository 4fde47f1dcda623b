// Package webhook owns outgoing webhooks: each tenant's endpoint settings
// (URL, signing secret sealed with the tenant's data key, subscribed
// events), a durable outbox of events in the database, signing per the
// Standard Webhooks scheme (webhook-id, webhook-timestamp and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"), and
// delivery: at least once, with exponential backoff and jitter for a day,
// surviving restarts, never on the path of the request that caused the
// event.
//
// The outbox is a table and a poller, not a job queue library: a worker
// claims due messages by pushing their next attempt forward by a lease in
// one UPDATE (FOR UPDATE SKIP LOCKED on PostgreSQL, so several gateways
// share the work; the single writer on SQLite). A worker that dies only
// delays its messages until the lease runs out.
//
// Endpoints that resolve to private, loopback, link-local or other
// non-public addresses are refused when the settings are saved and again
// when each connection is dialled (so DNS rebinding cannot slip past),
// unless Service.AllowPrivate is set.
//
// It imports the root package, internal/audit (for the record type of
// settings changes), internal/netguard (the dialer that refuses private
// targets) and libraries. Sealer (internal/vault) and Store
// (internal/sqlstore) are interfaces wired in by cmd; it must not import
// adapters or other capabilities.
package webhook
