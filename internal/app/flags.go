package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// errUsage marks command-line mistakes (exit status 2); flag.ErrHelp passes
// through for -h.
var errUsage = errors.New("usage")

// command describes one subcommand's command line.
type command struct {
	name     string
	synopsis string // e.g. "[flags] FILE"
	summary  string
	// bind registers the command's flags: the Config settings it uses and
	// its own options. It is called once per parse pass on fresh values.
	bind func(fs *flag.FlagSet, cfg *Config)
}

// parse reads args into a Config and the command's own options. It parses
// twice: the first pass finds --config and reports flag mistakes against the
// defaults; the second starts from the defaults, applies the file, then the
// flags again, so that the command line wins. Flags may follow positional
// arguments. The Config is validated.
func (cmd command) parse(args []string, stderr io.Writer) (Config, []string, error) {
	var (
		cfg  Config
		path string
	)
	fs := cmd.flagSet(&cfg, &path, stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, nil, err
		}
		return cfg, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if file := path; file != "" {
		cfg = Config{}
		fs = cmd.flagSet(&cfg, &path, io.Discard)
		if err := cfg.LoadFile(file); err != nil {
			return cfg, nil, err
		}
		cfg.configPath = file
		if pos, err = parseInterspersed(fs, args); err != nil {
			return cfg, nil, fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, pos, nil
}

func (cmd command) flagSet(cfg *Config, path *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sarissa "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(path, "config", "", "YAML configuration file (snake_case keys); flags override it")
	cmd.bind(fs, cfg)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: sarissa %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.synopsis, cmd.summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may appear before, between and after
// positional arguments ("--" ends the flags).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag.Parse consumed a "--" terminator if the remaining args do not
		// start where the unparsed ones would.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError formats a positional-argument mistake.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}
