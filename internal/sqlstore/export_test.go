package sqlstore

// AuditListQuery exposes List's query to the plan test.
var AuditListQuery = auditListQuery

// Queued returns how many InTx calls wait in the SQLite writer's queue.
func (db *DB) Queued() int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	n := 0
	for _, c := range db.group.queue {
		if c.state.Load() == callQueued {
			n++
		}
	}
	return n
}

// ReasonsJSON exposes the reasons column's encoding.
var ReasonsJSON = reasonsJSON
