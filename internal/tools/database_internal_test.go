package tools

import (
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// TestCloseWaitsForEvictedPools: a pool evicted from the LRU closes in
// the background (it waits for its connections in use); Close returns
// only after it has closed. The pools never connect: nothing is queried.
func TestCloseWaitsForEvictedPools(t *testing.T) {
	const dsn = "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	d := &DatabaseConnector{MaxPools: 1}
	var evicted *pgxpool.Pool
	openClosed := make(chan struct{})
	var evictedClosed atomic.Bool
	d.closePool = func(p *pgxpool.Pool) {
		if p != evicted {
			p.Close()
			close(openClosed)
			return
		}
		// The evicted pool finishes closing only after Close has closed
		// the open pool, that is, while Close is already under way.
		<-openClosed
		p.Close()
		evictedClosed.Store(true)
	}
	var err error
	if evicted, err = d.pool(t.Context(), "cred-1@1", dsn); err != nil {
		t.Fatal(err)
	}
	if _, err := d.pool(t.Context(), "cred-2@1", dsn); err != nil { // evicts cred-1@1
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if !evictedClosed.Load() {
		t.Fatal("Close returned before the evicted pool had closed")
	}
}
