package mcpserver

// SetFastPath turns the fast path on or off (the differential test).
func SetFastPath(s *Server, on bool) { s.noFastPath.Store(!on) }

// FastCalls returns how many calls the fast path answered.
func FastCalls(s *Server) int64 { return s.fastCalls.Load() }
