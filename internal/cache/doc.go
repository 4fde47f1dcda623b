// Package cache keeps recently used values in memory: at most a fixed
// number of entries, each until its expiry, and when the cache is full
// the least recently used entry makes room (never the whole cache, so
// caches that fill up together do not all miss together).
//
// It is the one cache of the gateway's in-memory lookups: authentications
// and tenant MCP servers (mcpserver), agent configurations and their prepared policy input (govern), tool
// sets (tools), session facts (session) and failed sign-ins (web). The
// caller keeps the clock and passes the time in, so tests drive expiry
// with a fake clock.
//
// It imports nothing of this module; the LRU list is
// github.com/hashicorp/golang-lru/v2's.
package cache
