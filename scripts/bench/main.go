//go:build linux

// Command bench measures gracevisord side by side with a direct connection, HAProxy
// (mode tcp, splice forced on) and nginx (stream module), all in front of the same
// backend processes, in one run on one machine.
//
// The model: gracevisord supervises the backends (demoapp for HTTP, demoapp --echo
// for idle connections, iperf3 -s for bulk) and its status tells each backend's
// internal port; HAProxy and nginx are then pointed at those same ports. Each
// measurement runs for every target in rounds whose order rotates, and the median
// of the rounds is reported, so that a noisy 2-core machine still gives ratios
// that mean something. Results print as a table and are saved as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin       string
	rounds    int
	duration  time.Duration
	bulkTime  time.Duration
	idleConns int
	reloads   int
	upgrades  int
	only      string
	out       string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin", "folder with gracevisord, gracevisorctl and demoapp")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per measurement (median is reported)")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "length of each short-connection and keep-alive run")
	flag.DurationVar(&o.bulkTime, "bulk-time", 2*time.Second, "length of each iperf3 run (whole seconds)")
	flag.IntVar(&o.idleConns, "idle", 10000, "idle proxied connections to hold")
	flag.IntVar(&o.reloads, "reloads", 50, "reloads (and restarts) under load")
	flag.IntVar(&o.upgrades, "upgrades", 10, "daemon upgrades (gracevisorctl upgrade) under load")
	flag.StringVar(&o.out, "out", "scripts/bench/results", "folder for the JSON result")
	flag.StringVar(&o.only, "only", "", "run only these steps, comma-separated: bulk, short, keepalive, keepalive-rps, "+
		"redis, instances, reload, idle (default: all); a partial run is printed, not saved")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	// Each idle connection costs a descriptor in this process (the client),
	// in the echo backend and two in the proxy: ask for room for all.
	fdLimit, err := raiseFileLimit(uint64(max(200000, 3*o.idleConns+10000)))
	if err != nil {
		return fmt.Errorf("raise file limit: %w", err)
	}
	st, err := startStack(ctx, o.bin, fdLimit)
	if err != nil {
		return err
	}
	defer st.stop()

	res := &results{
		Date:  time.Now().UTC().Format(time.RFC3339),
		Cores: runtime.NumCPU(),
		Command: fmt.Sprintf("make bench (rounds=%d duration=%s bulk-time=%s idle=%d reloads=%d upgrades=%d only=%q)",
			o.rounds, o.duration, o.bulkTime, o.idleConns, o.reloads, o.upgrades, o.only),
		Versions: st.versions(),
		FDLimit:  fdLimit,
	}
	res.LoadAvg[0] = loadAvg()
	steps := []struct {
		key, name string
		fn        func() error
	}{
		{"bulk", "bulk throughput", func() error { return measureBulk(ctx, st, o, res) }},
		{"short", "short connections", func() error { return measureShort(ctx, st, o, res) }},
		{"keepalive", "keep-alive latency", func() error { return measureKeepAlive(ctx, st, o, res) }},
		{"keepalive-rps", "keep-alive throughput", func() error { return measureKeepAliveRPS(ctx, st, o, res) }},
		{"redis", "redis keep-alive throughput", func() error { return measureRedis(ctx, st, o, res) }},
		{"instances", "instances: 2 vs 1", func() error { return measureInstances(ctx, st, o, res) }},
		{"reload", "reload, daemon upgrade and restart under load", func() error { return measureReload(ctx, st, o, res) }},
		// Last: 10k connections leave many sockets in TIME_WAIT behind them.
		{"idle", "idle connections", func() error { return measureIdle(ctx, st, o, res) }},
	}
	only := make(map[string]bool)
	for _, k := range strings.Split(o.only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			only[k] = true
		}
	}
	for _, s := range steps {
		if len(only) > 0 && !only[s.key] {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", s.name)
		t0 := time.Now()
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "   (%s)\n", time.Since(t0).Round(time.Second))
	}
	res.LoadAvg[1] = loadAvg()
	res.evaluate() // each target whose step ran
	res.print(os.Stdout)
	fmt.Printf("\n%s", res.markdown())
	if o.only != "" {
		return nil // a partial run is not a result
	}
	return save(res, o.out)
}

func save(res *results, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, time.Now().UTC().Format("2006-01-02T150405Z")+".json")
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(name, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nsaved %s\n", name)
	return nil
}

// raiseFileLimit sets RLIMIT_NOFILE to n, or, without the privilege to raise
// the hard limit, to the hard limit; it returns the limit now in force, which
// the children (proxies and backends) inherit.
func raiseFileLimit(n uint64) (int, error) {
	lim := syscall.Rlimit{Cur: n, Max: n}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		return int(n), nil
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	return int(lim.Cur), syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
