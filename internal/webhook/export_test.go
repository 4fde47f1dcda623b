package webhook

// Exported for tests.
var (
	PublicAddr = publicAddr
	CheckURL   = checkURL
)
