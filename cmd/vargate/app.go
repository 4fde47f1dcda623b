package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/vargate/vargate/internal/audit"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlstore"
	"github.com/vargate/vargate/internal/vault"
)

// app is the wired gateway: every component built from one Config. Only
// cmd knows how the pieces fit together.
type app struct {
	cfg     *Config
	log     *slog.Logger
	db      *sqlstore.DB
	auth    *auth.Service
	audit   *audit.Log
	vault   *vault.Vault
	handler http.Handler
	// closers run in reverse order on Close, after the HTTP server stopped.
	closers []func() error
}

// newApp opens the store and builds every component.
func newApp(ctx context.Context, cfg *Config, getenv func(string) string, log *slog.Logger) (a *app, err error) {
	db, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a = &app{cfg: cfg, log: log, db: db}
	a.closers = append(a.closers, db.Close)
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	a.auth = auth.NewService(sqlstore.NewAuthStore(db))

	// The audit log: group-commit writer, signed checkpoints. Its signing
	// key lives with the gateway's other keys in the data directory.
	signer, err := audit.LoadOrCreateKey(filepath.Join(cfg.DataDir, "audit-signing.key"), "")
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	a.audit = audit.New(sqlstore.NewAuditStore(db), signer)
	a.audit.Logger = log
	if err := a.audit.Open(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	a.closers = append(a.closers, a.audit.Close)

	v, closeKeys, err := openVault(ctx, cfg, getenv, db, vaultAuditor{a.audit}, log)
	if err != nil {
		return nil, err
	}
	a.vault = v
	a.closers = append(a.closers, closeKeys)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := &httpapi.Server{
		Logger:       log,
		Auth:         a.auth,
		Ping:         db.Ping,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Registry:     reg,
		Vault:        a.vault,
		Audit:        a.audit,
	}
	a.handler = api.Handler()
	return a, nil
}

// Close stops background work and closes the store, flushing what must be
// durable.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}
