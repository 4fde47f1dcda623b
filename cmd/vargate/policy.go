package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vargate/vargate/internal/policy"
)

// runPolicy dispatches the policy subcommands. They work on local files
// and need no running gateway.
func runPolicy(ctx context.Context, env *environment, args []string) error {
	const usage = `Usage: vargate policy test [-v] DIR

Subcommands:
  test   compile the tenant policy modules under DIR with the base policy,
         as an upload would be checked, and run their test_ rules
`
	if len(args) == 0 || wantsHelp(args[:1]) || args[0] == "help" {
		return helpRequested(env, args, usage)
	}
	switch args[0] {
	case "test":
		return runPolicyTest(ctx, env, args[1:])
	}
	fmt.Fprintf(env.stderr, "vargate policy: unknown subcommand %q\n\n%s", args[0], usage)
	return errUsage
}

func runPolicyTest(ctx context.Context, env *environment, args []string) error {
	flags := newFlagSet(env, "policy test", "policy test [-v] DIR",
		"Compiles the .rego files under DIR (tenant modules, package vargate.tenant or below)\n"+
			"together with the base policy, exactly as an uploaded version is checked, and runs\n"+
			"their test_ rules. Exits non-zero when a module is rejected or a test fails.")
	verbose := flags.Bool("v", false, "list passing tests too, with their print() output")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		flags.Usage()
		return errUsage
	}
	modules, err := readPolicyDir(flags.Arg(0))
	if err != nil {
		return err
	}
	results, err := policy.Test(ctx, modules)
	if err != nil {
		return fmt.Errorf("policy rejected: %w", err)
	}
	failed := 0
	for _, r := range results {
		outcome := "PASS"
		switch {
		case r.Skipped:
			outcome = "SKIP"
		case !r.Pass:
			outcome = "FAIL"
			failed++
		}
		if outcome == "PASS" && !*verbose {
			continue
		}
		fmt.Fprintf(env.stdout, "%s %s %s (%v)\n", outcome, r.Location, r.Name, r.Duration.Round(time.Microsecond))
		if r.Message != "" && r.Message != "failed" {
			fmt.Fprintf(env.stdout, "    %s\n", r.Message)
		}
		if r.Output != "" && (outcome == "FAIL" || *verbose) {
			for _, line := range strings.Split(strings.TrimRight(r.Output, "\n"), "\n") {
				fmt.Fprintf(env.stdout, "    | %s\n", line)
			}
		}
	}
	switch {
	case len(results) == 0:
		fmt.Fprintf(env.stdout, "%d modules compiled; no test_ rules found\n", len(modules))
	case failed == 0:
		fmt.Fprintf(env.stdout, "PASS: %d/%d\n", len(results), len(results))
	default:
		fmt.Fprintf(env.stdout, "PASS: %d/%d\nFAIL: %d/%d\n", len(results)-failed, len(results), failed, len(results))
		return fmt.Errorf("%d of %d policy tests failed", failed, len(results))
	}
	return nil
}

// readPolicyDir reads every .rego file under dir, keyed by its path
// relative to dir with forward slashes (the module names of an upload).
func readPolicyDir(dir string) (map[string]string, error) {
	modules := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		modules[filepath.ToSlash(rel)] = string(src)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy directory: %w", err)
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("read policy directory: no .rego files under %s", dir)
	}
	return modules, nil
}
