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
	"time"

	"github.com/gracevisor/gracevisor/cmd/internal/apiserver"
	"github.com/gracevisor/gracevisor/cmd/internal/buildinfo"
	"github.com/gracevisor/gracevisor/cmd/internal/daemon"
	"github.com/gracevisor/gracevisor/cmd/internal/upgrade"
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
	pidFile   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gracevisord", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.confDir, "conf", config.DefaultDir, "config directory holding gracevisor.yaml")
	fs.BoolVar(&o.logStderr, "log-stderr", false, "also write the daemon's log to stderr (default when stderr is a terminal)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.StringVar(&o.pidFile, "pidfile", "", "write the daemon's pid to this file once it serves (a daemon started by an upgrade rewrites it)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gracevisord: unexpected argument %q\n", fs.Arg(0))
		return o, errors.New("unexpected argument")
	}
	return o, nil
}

// run is gracevisord; it returns the exit code: 0 after a clean shutdown
// (or a hand-over to a successor), 1 when the config is invalid or start-up
// or serving failed, 2 on bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if opts.version {
		fmt.Fprintf(stdout, "gracevisord %s (build %s)\n", version, buildinfo.ID(buildID))
		return 0
	}
	cfg, cfgErr := config.Load(opts.confDir)
	var up upgrader
	if upgrade.StartedByUpgrade() { // set up at once: its parent waits for a word
		if up, err = newUpgrader(cfg, opts.pidFile); err != nil {
			fmt.Fprintf(stderr, "gracevisord: %v\n", err)
			return 1
		}
	}
	if cfgErr != nil {
		up.failed(cfgErr)
		printLines(stderr, cfgErr)
		return 1
	}
	toStderr := opts.logStderr || isTerminal(os.Stderr)
	logger, logFile, err := openLog(cfg.Log, toStderr, up.hasParent())
	if err != nil {
		up.failed(err)
		fmt.Fprintf(stderr, "gracevisord: %v\n", err)
		return 1
	}
	defer logFile.Close()
	sec, err := apiserver.NewSecurity(context.Background(), cfg.RPC, logger)
	if err != nil {
		up.failed(err)
		logger.Error("gracevisord refused to start", "err", err)
		if !toStderr {
			fmt.Fprintf(stderr, "gracevisord: %v\n", err)
		}
		return 1
	}
	warnPlatform(logger)
	contain := containApps(cfg, logger, upgrade.StartedByUpgrade()) // before anything binds
	if up.u == nil {                                                // a first daemon: set up upgrades before anything listens
		if up, err = newUpgrader(cfg, opts.pidFile); err != nil {
			logger.Error("gracevisord refused to start", "err", err)
			return 1
		}
	}
	// Subscribe before anything starts, so an early SIGTERM still stops apps.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	err = daemon.Run(daemon.Options{
		Dir: opts.confDir, Config: cfg, Log: logger, Security: sec, Version: version, Signals: sigs,
		Upgrader: up.u, BuildID: buildinfo.ID(buildID), Started: started, LogRotation: logFile,
		Containment: contain,
	})
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
