package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func runHealthcheck(ctx context.Context, env *environment, args []string) error {
	cfg, _, err := loadConfig(env, "healthcheck", "healthcheck [flags]",
		"Asks the gateway at VARGATE_LISTEN for /health and exits 0 if it is healthy (for container health checks).", args, nil)
	if err != nil {
		return err
	}
	host := cfg.Listen
	if strings.HasPrefix(host, "0.0.0.0:") {
		host = "127.0.0.1:" + strings.TrimPrefix(host, "0.0.0.0:")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+host+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gateway unreachable: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway unhealthy: %s", resp.Status)
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
