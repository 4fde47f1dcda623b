// Package sqlstore implements the capability stores (auth.Store,
// audit.Store, …) once, in SQL that both SQLite and PostgreSQL accept, on
// top of database/sql.
//
// The dialect packages internal/sqlite and internal/postgres open a *DB
// with their driver, pragmas and embedded migrations; this package owns
// the queries, the transaction helpers and the migration runner. Where the
// dialects differ (placeholders, row locks, advisory locks, error codes)
// the difference is confined to DB's helpers, so each store's logic is
// written, reviewed and tested once and the shared behaviour suite in
// internal/storetest runs it against both databases.
//
// It imports the root package and the capability packages whose Store
// interfaces it implements (agent, approval, audit, auth, observe, policy,
// session, tools, upstream, vault, webhook); it must not import httpapi,
// mcpserver or cmd.
package sqlstore
