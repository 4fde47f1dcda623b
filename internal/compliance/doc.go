// Package compliance owns the compliance export of a governed session and
// policy replay.
//
// Export (Service.Export) writes one document per session: the session as
// it was created (agent configuration version and governance profile it
// pinned, system prompt hash, duration), a timeline of every audit record
// of the session in order, summary figures, the AGCS controls the session
// actually exercised (each with the record sequence numbers that show it)
// mapped to EU AI Act articles 12 and 14, and a chain_verification object
// that is an audit.Bundle: the session's records, a signed checkpoint and
// an inclusion proof per record, so that `vargate verify` (audit.DecodeBundle
// and audit.VerifyBundle) checks the file offline. The document is
// streamed: records are read page by page in several passes and never held
// in memory all at once, so its memory does not grow with the session.
// The same content renders as a printable HTML report (html/template,
// embedded).
//
// Replay (Service.ReplaySession, Service.ReplayTenant) re-evaluates the
// policy input that every governed record keeps (its Detail's "input")
// against the tenant's active policy version, a stored version, or a draft
// sent with the request that is compiled for the replay only and never
// activated; it reports which decisions would change. Observed tool calls
// are re-scored with the current anomaly rules and reported apart.
//
// Dependencies are small interfaces wired in cmd (Sessions, Agents,
// SessionRecords, Policies) plus *audit.Log. It imports the root package
// and the domain packages agent, anomaly, audit, policy and session; it
// must not import adapters (sqlstore, httpapi, …) or cmd.
package compliance
