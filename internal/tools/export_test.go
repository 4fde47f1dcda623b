package tools

import "context"

// ScrubForTest releases toolID's credential for a call and returns text
// as the call's result would be scrubbed.
func ScrubForTest(ctx context.Context, creds Credentials, toolID, text string) string {
	c := &Call{TenantID: "t1", ActionID: "a"}
	s, err := useCredential(ctx, creds, c, toolID, "", "")
	if err != nil {
		panic(err)
	}
	s.Wipe()
	res, _ := c.scrub(Result{Text: text}, nil)
	return res.Text
}

// ScrubBytesForTest scrubs b of the forms of values.
func ScrubBytesForTest(values []string, b []byte) []byte {
	s := &scrubber{}
	s.add(values...)
	return s.bytes(b)
}

// ScrubResultForTest is ScrubForTest for a structured result.
func ScrubResultForTest(ctx context.Context, creds Credentials, toolID string, structured []byte) []byte {
	c := &Call{TenantID: "t1", ActionID: "a"}
	s, err := useCredential(ctx, creds, c, toolID, "", "")
	if err != nil {
		panic(err)
	}
	s.Wipe()
	res, _ := c.scrub(Result{Structured: structured}, nil)
	return res.Structured
}
