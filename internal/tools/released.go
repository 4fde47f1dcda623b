package tools

// Remember registers credential values released for the call by a
// connector outside this package (an upstream MCP server's, in
// internal/upstream), so that Scrub removes them, raw and encoded, from
// what the call returns.
func (c *Call) Remember(values ...string) { c.remember(values...) }

// Scrub removes every value released for the call from a connector's
// result and error (see Remember).
func (c *Call) Scrub(res Result, err error) (Result, error) { return c.scrub(res, err) }
