package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/vargate/vargate/internal/auth"
	"github.com/vargate/vargate/internal/httpapi"
	"github.com/vargate/vargate/internal/sqlstore"
)

// app is the wired gateway: every component built from one Config. Only
// cmd knows how the pieces fit together.
type app struct {
	cfg     *Config
	log     *slog.Logger
	db      *sqlstore.DB
	auth    *auth.Service
	handler http.Handler
	// closers run in reverse order on Close, after the HTTP server stopped.
	closers []func() error
}

// newApp opens the store and builds every component.
func newApp(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	db, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db}
	a.closers = append(a.closers, db.Close)

	a.auth = auth.NewService(sqlstore.NewAuthStore(db))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := &httpapi.Server{
		Logger:       log,
		Auth:         a.auth,
		Ping:         db.Ping,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Registry:     reg,
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
