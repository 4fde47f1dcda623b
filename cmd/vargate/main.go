// Command vargate is the Vargate governance gateway and its tools: one
// binary whose subcommands serve the gateway, manage tenants and keys,
// verify audit evidence, and run the Managed Agents simulator.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand. run receives the arguments after the
// subcommand's name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a subcommand may touch of the outside world.
type environment struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// commands lists every subcommand, in the order `vargate --help` shows them.
func commands() []command {
	return []command{
		{"serve", "run the gateway", runServe},
		{"demo", "see the whole product in a minute: gateway, simulated agent, the setup guide's steps", runDemo},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"config", "print the effective configuration with secrets masked", runConfig},
		{"tenant", "create and list tenants", runTenant},
		{"key", "create, list and revoke API keys", runKey},
		{"policy", "test policy modules locally", runPolicy},
		{"vault", "rotate the credential vault's key-encryption key", runVault},
		{"audit", "verify the audit trail in the database (gateway running or stopped)", runAudit},
		{"verify", "verify an exported audit bundle offline against a public key", runVerify},
		{"sim", "run the local Managed Agents API simulator", runSim},
		{"anomaly", "score built-in tool calls (JSON lines on stdin) with the anomaly rules", runAnomaly},
		{"bench", "drive governed tool calls through a gateway and report throughput and latency", runBench},
		{"healthcheck", "exit 0 if the local gateway answers /health", runHealthcheck},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks an error that was already explained to the user.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	err := run(ctx, env, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "vargate:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		if len(args) == 0 {
			usage(env.stderr)
			return errUsage
		}
		usage(env.stdout)
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	if wantsHelp(args[1:]) || (len(args) > 1 && args[1] == "help") {
		// Help that was asked for is the answer: it goes to stdout and
		// the command exits 0 (flag.ErrHelp).
		helpEnv := *env
		helpEnv.stderr = env.stdout
		env = &helpEnv
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.stderr, "vargate: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `vargate — a governance gateway for AI agents on Anthropic's Managed Agents API.

Usage: vargate COMMAND [flags]

Commands:
`)
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, `
Run "vargate COMMAND --help" for the flags of a command; "vargate --version" prints the version.
Configuration comes from flags and environment variables; "vargate config" shows it.
`)
}

// wantsHelp reports whether args ask for help (-h, -help or --help
// before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// helpRequested prints a multi-command usage text: to stdout with exit 0
// when help was asked for (see run), else to stderr with exit 1.
func helpRequested(env *environment, args []string, text string) error {
	fmt.Fprint(env.stderr, text)
	if len(args) > 0 && (wantsHelp(args[:1]) || args[0] == "help") {
		return flag.ErrHelp
	}
	return errUsage
}

// newFlagSet returns a flag set for a subcommand whose help text starts
// with usage and description.
func newFlagSet(env *environment, name, usageLine, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: vargate %s\n\n%s\n", usageLine, description)
		var has bool
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(env.stderr, "\nFlags:")
			printFlags(env.stderr, fs)
		}
	}
	return fs
}

// printFlags lists a flag set's flags like flag.PrintDefaults, with two
// differences: a flag's value is named by its type (or the setting's
// Placeholder), never by a `quoted` word of its usage, which is shown as
// written; and flags are written --name, as the documentation does.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		var arg string
		switch v := f.Value.(type) {
		case interface{ Placeholder() string }:
			arg = v.Placeholder()
		default:
			arg, _ = flag.UnquoteUsage(&flag.Flag{Name: f.Name, Value: f.Value, Usage: strings.ReplaceAll(f.Usage, "`", "")})
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			arg = ""
		}
		line := "  --" + f.Name
		if arg != "" {
			line += " " + arg
		}
		usage := f.Usage
		if _, isSetting := f.Value.(*settingValue); !isSetting && !isZeroDefault(f.DefValue) {
			if arg == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
	})
}

func isZeroDefault(v string) bool {
	switch v {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}
