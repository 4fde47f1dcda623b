package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/vargate/vargate"
)

func runVersion(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "version", "version", "Prints the version of this binary.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "vargate %s (%s)\n", vargate.Version, runtime.Version())
	return nil
}
