package audit

import "context"

// VerifyWith is Verify with a chosen number of workers and records per
// worker, so that tests can make small logs go through the parallel path.
func VerifyWith(ctx context.Context, st Store, v *Verifier, tenantID string, workers int, perWorker int64, trusted ...string) (VerifyResult, error) {
	return verify(ctx, st, v, tenantID, trusted, workers, perWorker)
}

// IsCanonical and CanonicalJSON are the check and the normalisation of a
// record's JSON fields, for the differential tests.
var (
	IsCanonical   = isCanonical
	CanonicalJSON = canonicalJSON
)
