package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// RotateReport says what a KEK rotation did.
type RotateReport struct {
	// KEK is the current KEK after the rotation.
	KEK string
	// Rewrapped counts data keys moved to KEK.
	Rewrapped int
	// Remaining counts the data keys still wrapped by other KEKs (by KEK
	// ID): zero after a clean run. Older KEKs may be retired once they
	// reach zero here.
	Remaining map[string]int
}

// rewrapBatch is how many data keys one rewrap query returns.
const rewrapBatch = 100

// RotateKEK creates a new KEK in the provider and rewraps every tenant
// data key under it. Credentials are not re-encrypted (their data keys do
// not change), and gateways keep working throughout: each data key is
// rewrapped in its own transaction, and every KEK stays available to
// Unwrap until the operator retires it.
func (v *Vault) RotateKEK(ctx context.Context) (RotateReport, error) {
	kek, err := v.Keys.NewKEK(ctx)
	if err != nil {
		return RotateReport{}, fmt.Errorf("create KEK: %w", err)
	}
	v.Logger.LogAttrs(ctx, slog.LevelInfo, "rotating key-encryption key", slog.String(logKeyKEK, kek))
	return v.Rewrap(ctx)
}

// Rewrap rewraps every data key not under the provider's current KEK
// (resuming an interrupted rotation, or catching keys a running gateway
// created under the old KEK during one). Data keys that fail to rewrap are
// reported in the error and left as they were.
func (v *Vault) Rewrap(ctx context.Context) (RotateReport, error) {
	kek, err := v.Keys.CurrentKEK(ctx)
	if err != nil {
		return RotateReport{}, err
	}
	rep := RotateReport{KEK: kek}
	var errs []error
	after := ""
	for {
		keys, err := v.Store.DataKeysNotUnder(ctx, kek, after, rewrapBatch)
		if err != nil {
			return rep, err
		}
		for _, k := range keys {
			after = k.ID
			ok, err := v.rewrapOne(ctx, k)
			if err != nil {
				errs = append(errs, fmt.Errorf("data key %s (tenant %s): %w", k.ID, k.TenantID, err))
				continue
			}
			if ok {
				rep.Rewrapped++
			}
		}
		if len(keys) < rewrapBatch {
			break
		}
	}
	usage, err := v.Store.KEKUsage(ctx)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	rep.Remaining = map[string]int{}
	for _, u := range usage {
		if u.KEKID != kek {
			rep.Remaining[u.KEKID] = u.DataKeys
		}
	}
	v.Logger.LogAttrs(ctx, slog.LevelInfo, "rewrapped data keys",
		slog.String(logKeyKEK, kek), slog.Int("rewrapped", rep.Rewrapped), slog.Int("failed", len(errs)))
	return rep, errors.Join(errs...)
}

func (v *Vault) rewrapOne(ctx context.Context, k DataKey) (bool, error) {
	aad := dataKeyAAD(k.TenantID, k.ID)
	dek, err := v.Keys.Unwrap(ctx, k.Wrapped, k.KEKID, aad)
	if err != nil {
		return false, err
	}
	defer clear(dek)
	wrapped, kek, err := v.Keys.Wrap(ctx, dek, aad)
	if err != nil {
		return false, err
	}
	// Compare-and-swap on the old KEK: a concurrent rotation is not undone.
	return v.Store.RewrapDataKey(ctx, k.ID, k.KEKID, wrapped, kek, v.Now())
}

// Check verifies at start-up that the key provider has every KEK that
// stored data keys are wrapped by. A missing one means the wrong key file
// or token is configured: those tenants' credentials cannot be opened.
func (v *Vault) Check(ctx context.Context) error {
	have, err := v.Keys.KEKs(ctx)
	if err != nil {
		return fmt.Errorf("key provider: %w", err)
	}
	known := map[string]bool{}
	for _, id := range have {
		known[id] = true
	}
	usage, err := v.Store.KEKUsage(ctx)
	if err != nil {
		return err
	}
	var missing []string
	for _, u := range usage {
		if !known[u.KEKID] {
			missing = append(missing, fmt.Sprintf("%s (%d data keys)", u.KEKID, u.DataKeys))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the key provider lacks key-encryption keys the database uses: %s; configure the key file or HSM token these tenants' credentials were sealed with",
			strings.Join(missing, ", "))
	}
	return nil
}
