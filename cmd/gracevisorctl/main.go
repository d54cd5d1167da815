package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gracevisor/gracevisor/cmd/internal/ctl"
)

// Set at build time by the Makefile: -ldflags "-X main.version=... -X
// main.buildID=...". Without buildID, buildinfo.ID falls back to the VCS
// revision the go command stamped.
var (
	version = "dev"
	buildID string
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, ctl.IsTerminal(os.Stdout))
	stop()
	os.Exit(code)
}

// run is gracevisorctl; it returns the exit code. terminal says stdout is a
// terminal (blocking commands then show their steps).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) int {
	c := &cli{Session: ctl.Session{Stdout: stdout, Stderr: stderr, Terminal: terminal}}
	root := c.rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return ctl.Report(stderr, root.ExecuteContext(ctx))
}
