-- Nothing to do on PostgreSQL: SQLite's migration 016 rebuilds its
-- WITHOUT ROWID audit_log as a rowid table, and PostgreSQL's tables are
-- heaps already. The file keeps migration numbers matching across
-- dialects.
SELECT 1;
