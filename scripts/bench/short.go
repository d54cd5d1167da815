//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// measureShort runs wrk with a new TCP connection per request against demoapp
// through every target.
func measureShort(ctx context.Context, st *stack, o options, res *results) error {
	rows, err := measureWrk(ctx, st, o, false)
	res.Short = rows
	return err
}

// measureKeepAliveRPS runs wrk over persistent connections (as fast as they
// go: throughput, where measureKeepAlive measures latency at a fixed rate).
func measureKeepAliveRPS(ctx context.Context, st *stack, o options, res *results) error {
	rows, err := measureWrk(ctx, st, o, true)
	res.KeepAliveRPS = rows
	return err
}

// measureWrk runs wrk against demoapp through every target, in rotating
// rounds, with or without keep-alive, and returns a row per target.
func measureWrk(ctx context.Context, st *stack, o options, keepAlive bool) ([]httpRow, error) {
	type acc struct {
		rps, p50, p99, cpu []float64
		errs               int
	}
	by := map[string]*acc{}
	for r := 0; r < o.rounds; r++ {
		for _, t := range rotate(st.targets, r) {
			cpu0 := cpuSeconds(t.pids())
			w, err := runWrk(ctx, t.demo, o.duration, nil, keepAlive)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			cpu := cpuSeconds(t.pids()) - cpu0
			a := by[t.name]
			if a == nil {
				a = &acc{}
				by[t.name] = a
			}
			a.rps = append(a.rps, w.rps)
			a.p50 = append(a.p50, w.p50ms)
			a.p99 = append(a.p99, w.p99ms)
			if w.requests > 0 {
				a.cpu = append(a.cpu, cpu/float64(w.requests)*1e6)
			}
			a.errs += w.failedConns + w.failedRequests
		}
	}
	direct := median(by["direct"].rps)
	var rows []httpRow
	for _, t := range st.targets {
		a := by[t.name]
		rows = append(rows, httpRow{Target: t.name, RPS: median(a.rps), P50ms: median(a.p50),
			P99ms: median(a.p99), Errors: a.errs, RatioRPS: ratio(median(a.rps), direct),
			ProxyCPUus: median(a.cpu), RPSRounds: a.rps, P99Rounds: a.p99})
	}
	return rows, nil
}

// wrkResult is what one wrk run printed.
type wrkResult struct {
	rps            float64
	requests       int
	p50ms, p99ms   float64
	failedConns    int // socket errors: connect
	failedRequests int // read/write/timeout errors and non-2xx/3xx answers
}

// runWrk runs wrk for d (2 threads, 32 connections; Connection: close unless
// keepAlive). If stop is not nil, wrk runs until stop is closed instead, then
// gets SIGINT and reports.
func runWrk(ctx context.Context, addr string, d time.Duration, stop <-chan struct{}, keepAlive bool) (wrkResult, error) {
	return runWrkURL(ctx, "http://"+addr+"/", d, stop, keepAlive)
}

// runWrkURL is runWrk against any URL.
func runWrkURL(ctx context.Context, url string, d time.Duration, stop <-chan struct{}, keepAlive bool) (wrkResult, error) {
	dur := d
	if stop != nil {
		dur = 10 * time.Minute
	}
	args := []string{"-t2", "-c32", "-d", fmt.Sprintf("%ds", int(dur.Seconds())), "--latency"}
	if !keepAlive {
		args = append(args, "-H", "Connection: close")
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, url)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return wrkResult{}, err
	}
	if stop != nil {
		go func() {
			<-stop
			_ = cmd.Process.Signal(syscall.SIGINT)
		}()
	}
	if err := cmd.Wait(); err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out.String())
	}
	return parseWrk(out.String())
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	rePct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func parseWrk(s string) (wrkResult, error) {
	var w wrkResult
	m := reRPS.FindStringSubmatch(s)
	if m == nil {
		return w, fmt.Errorf("wrk printed no Requests/sec: %s", s)
	}
	w.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(s); m != nil {
		w.requests, _ = strconv.Atoi(m[1])
	}
	for _, m := range rePct.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		v *= map[string]float64{"us": 0.001, "ms": 1, "s": 1000}[m[3]]
		if m[1] == "50" {
			w.p50ms = v
		} else {
			w.p99ms = v
		}
	}
	if m := reSocket.FindStringSubmatch(s); m != nil {
		w.failedConns = atoi(m[1])
		w.failedRequests = atoi(m[2]) + atoi(m[3]) + atoi(m[4])
	}
	if m := reNon2xx.FindStringSubmatch(s); m != nil {
		w.failedRequests += atoi(m[1])
	}
	return w, nil
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
