-- audit_log becomes an ordinary rowid table (issue 17). Migration 002 made
-- it WITHOUT ROWID, clustered on (tenant_id, seq); but its rows are large
-- (a governed record's detail and args_redacted are often 1-3 KB), and
-- SQLite keeps WITHOUT ROWID rows in an index b-tree, where a row over
-- about 1 KB of a 4 KB page spills to overflow pages and interior pages
-- carry whole keys (SQLite's documentation advises WITHOUT ROWID only for
-- rows under about 1/20 of a page). In a rowid table the records append
-- at the end of the table b-tree and (tenant_id, seq) is a small separate
-- index: a governed call costs about 10 % less CPU in-process
-- (BenchmarkGovernedCall/sqlite, 631 → 569 µs on a busy machine) and
-- about 5 % less for the whole gateway under `vargate bench`. Reads get
-- faster too, the large rows no longer in overflow chains: one tenant's
-- 50,000 records of 200,000 scan in 0.9-1.5 s instead of 6-7 s, their
-- hashes in 0.7 s instead of 2.7-3.5 s.
--
-- The primary key stays (tenant_id, seq): in a rowid table it is a unique
-- index (sqlite_autoindex_audit_log_1) that every read of the chain
-- searches, as before (internal/sqlstore's plan test checks it). The
-- records are copied in (tenant_id, seq) order, so each tenant's chain
-- lies in rowid order. The partial indexes and the append-only triggers
-- went with the old table and are made again; DROP TABLE fires no DELETE
-- trigger, and no foreign key refers to audit_log. The migration runs in
-- one transaction: a failure leaves the old table untouched.
--
-- secure_delete (on for the writer connection, see internal/sqlite) is
-- off while the old table is dropped: its pages hold exactly the records
-- now in the new table, and zeroing them would write the whole log a
-- second time (93 s instead of 24 s for 200,000 records, below). It is on again at the
-- end of this file; if the migration fails, the process stops anyway.
--
-- Cost: every record is copied once, before the gateway serves. Measured
-- on a shared 2-core VM with records of about 2.3 KB (1.5 KB detail,
-- 0.5 KB arguments) in 4 tenants: 200,000 records (a 0.9 GB file) took
-- 24 s, 1,000,000 (4.5 GB) 9 minutes under heavy load from other work.
-- The disk needs room for the copy twice over until the transaction
-- ends: the new table is written to the WAL (then checkpointed into the
-- file), and the old table's pages become free pages in the file, which
-- later appends reuse (VACUUM returns them to the file system).

PRAGMA secure_delete = OFF;

CREATE TABLE audit_log_new (
	tenant_id      TEXT NOT NULL,
	seq            BIGINT NOT NULL,
	time           BIGINT NOT NULL,
	source         TEXT NOT NULL,
	session_id     TEXT NOT NULL DEFAULT '',
	agent_id       TEXT NOT NULL DEFAULT '',
	action_id      TEXT NOT NULL DEFAULT '',
	tool           TEXT NOT NULL DEFAULT '',
	decision       TEXT NOT NULL DEFAULT '',
	policy_version TEXT NOT NULL DEFAULT '',
	decision_id    TEXT NOT NULL DEFAULT '',
	reasons        TEXT,
	args_digest    TEXT NOT NULL DEFAULT '',
	args_redacted  TEXT,
	result_digest  TEXT NOT NULL DEFAULT '',
	anomaly        TEXT,
	actor          TEXT NOT NULL DEFAULT '',
	detail         TEXT,
	prev_hash      BLOB NOT NULL,
	hash           BLOB NOT NULL,
	outcome        TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant_id, seq)
);

INSERT INTO audit_log_new (tenant_id, seq, time, source, session_id, agent_id, action_id, tool, decision,
		policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor,
		detail, prev_hash, hash, outcome)
	SELECT tenant_id, seq, time, source, session_id, agent_id, action_id, tool, decision,
		policy_version, decision_id, reasons, args_digest, args_redacted, result_digest, anomaly, actor,
		detail, prev_hash, hash, outcome
	FROM audit_log ORDER BY tenant_id, seq;

DROP TABLE audit_log;
ALTER TABLE audit_log_new RENAME TO audit_log;

CREATE INDEX audit_log_session ON audit_log (tenant_id, session_id, seq) WHERE session_id <> '';
CREATE INDEX audit_log_action ON audit_log (tenant_id, action_id, seq) WHERE action_id <> '';

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

PRAGMA secure_delete = ON;
