package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func runHealthcheck(ctx context.Context, env *environment, args []string) error {
	cfg, pos, err := loadConfig(env, "healthcheck", "healthcheck [--listen ADDR]",
		"Asks the gateway at VARGATE_LISTEN (or --listen) for /health and exits 0 if it\nis healthy: for container health checks.", args, []string{"listen"}, nil)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fmt.Fprintf(env.stderr, "vargate healthcheck: unexpected argument %q\n", pos[0])
		return errUsage
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
