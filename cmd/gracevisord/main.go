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

	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"github.com/gracevisor/gracevisor/cmd/internal/daemon"
	"github.com/gracevisor/gracevisor/config"
)

// Set at build time by the Makefile: -ldflags "-X main.version=... -X
// main.buildID=...". The daemon's build id is buildinfo.ID(buildID), which
// falls back to the VCS revision the go command stamped.
var (
	version = "dev"
	buildID string
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are gracevisord's command-line flags.
type options struct {
	confDir   string
	logStderr bool
	version   bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gracevisord", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.confDir, "conf", config.DefaultDir, "config directory holding gracevisor.yaml")
	fs.BoolVar(&o.logStderr, "log-stderr", false, "also write the daemon's log to stderr (default when stderr is a terminal)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gracevisord: unexpected argument %q\n", fs.Arg(0))
		return o, errors.New("unexpected argument")
	}
	return o, nil
}

// run is gracevisord; it returns the exit code: 0 after a clean shutdown,
// 1 when the config is invalid or start-up or serving failed, 2 on bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if opts.version {
		fmt.Fprintln(stdout, "gracevisord", version)
		return 0
	}
	cfg, err := config.Load(opts.confDir)
	if err != nil {
		printLines(stderr, err)
		return 1
	}
	toStderr := opts.logStderr || isTerminal(os.Stderr)
	logger, logFile, err := openLog(cfg.Log, toStderr)
	if err != nil {
		fmt.Fprintf(stderr, "gracevisord: %v\n", err)
		return 1
	}
	defer logFile.Close()
	sec, err := apiserver.NewSecurity(context.Background(), cfg.RPC, logger)
	if err != nil {
		logger.Error("gracevisord refused to start", "err", err)
		if !toStderr {
			fmt.Fprintf(stderr, "gracevisord: %v\n", err)
		}
		return 1
	}
	warnPlatform(logger)
	// Subscribe before anything starts, so an early SIGTERM still stops apps.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	err = daemon.Run(daemon.Options{Dir: opts.confDir, Config: cfg, Log: logger, Security: sec, Version: version, Signals: sigs})
	if err != nil {
		logger.Error("gracevisord failed", "err", err)
		if !toStderr {
			fmt.Fprintf(stderr, "gracevisord: %v\n", err)
		}
		return 1
	}
	return 0
}

// printLines prints err one line per problem, each prefixed with the
// program name: the config loader reports one problem per line.
func printLines(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(w, "gracevisord: %s\n", line)
		}
	}
}
