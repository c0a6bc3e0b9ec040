// Package app is Sarissa's composition root: it parses the command line and
// configuration, builds the components a target needs, and runs them. It is
// the only package that knows every other one.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
)

// Exit statuses of Run.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Run executes the sarissa command line args (without the program name) and
// returns the process exit status. Cancelling ctx stops a running server
// gracefully and aborts an import before it commits.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "import":
		err = runImport(ctx, args[1:], stdout, stderr)
	case "job":
		err = runJob(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help", "-help":
		printUsage(stdout)
	default:
		fmt.Fprintf(stderr, "sarissa: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return exitUsage
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage), errors.Is(err, ErrConfig):
		fmt.Fprintf(stderr, "sarissa %s: %v\nRun 'sarissa %s -h' for help.\n", args[0], trimUsage(err), args[0])
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sarissa %s: %v\n", args[0], err)
		return exitError
	}
}

// trimUsage drops the "usage: " marker from command-line errors.
func trimUsage(err error) string {
	return strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Sarissa: a vector database that stores Lance tables and speaks the LanceDB REST protocol.

Usage: sarissa <command> [flags]

Commands:
  serve     run the server: every role in one process (--target all), or one role
            (--target query, executor, agent or indexer)
  import    load a Parquet, Arrow IPC, CSV or JSON Lines file into a table
  job run   run one maintenance job (index, compact, cleanup) and exit
  version   print the version

Run 'sarissa <command> -h' for the flags of a command.
`)
}

// versionString names the module version and VCS revision the binary was
// built from, as recorded by the Go toolchain.
func versionString() string {
	version, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := "sarissa " + version
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		out += " (" + rev + ")"
	}
	return out + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(cfg.LogLevel) // Validate has checked it
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
