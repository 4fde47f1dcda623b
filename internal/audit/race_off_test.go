//go:build !race

package audit_test

// raceEnabled lets tests shrink their databases under the race detector,
// which slows the pure-Go SQLite driver by an order of magnitude.
const raceEnabled = false
