package audit

import "context"

// VerifyWith is Verify with a chosen number of workers and records per
// worker, so that tests can make small logs go through the parallel path.
func VerifyWith(ctx context.Context, st Store, v *Verifier, tenantID string, workers int, perWorker int64, trusted ...string) (VerifyResult, error) {
	return verify(ctx, st, v, tenantID, trusted, workers, perWorker)
}
