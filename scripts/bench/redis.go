//go:build linux

package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
)

// Redis over persistent connections: redis-benchmark -k 1 (its default),
// the way a connection pool talks to redis, as fast as it goes. The step
// runs only when redis-server and redis-benchmark are installed.
const (
	redisClients  = 8
	redisRequests = 100000 // per command and run
)

// haveRedis reports whether the redis step can run.
func haveRedis() bool {
	_, errS := exec.LookPath("redis-server")
	_, errB := exec.LookPath("redis-benchmark")
	return errS == nil && errB == nil
}

// redisApp is gracevisord's app entry for redis-server (no persistence).
const redisApp = `  - {name: redis, command: "redis-server --bind 127.0.0.1 --port {port} --save '' --appendonly no",
     internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %s}
`

// measureRedis runs redis-benchmark SET and GET through every target in
// rotating rounds and reports each target's median requests/s (SET and GET
// averaged).
func measureRedis(ctx context.Context, st *stack, o options, res *results) error {
	if st.target("direct").redis == "" {
		res.Notes = append(res.Notes, "redis-server or redis-benchmark not installed: no redis keep-alive row")
		return nil
	}
	by := map[string][]float64{}
	errs := map[string]int{}
	for r := 0; r < o.rounds; r++ {
		for _, t := range rotate(st.targets, r) {
			rps, err := redisBenchmark(ctx, t.redis)
			if err != nil {
				errs[t.name]++
				res.Notes = append(res.Notes, fmt.Sprintf("redis-benchmark via %s: %v", t.name, err))
				continue
			}
			by[t.name] = append(by[t.name], rps)
		}
	}
	direct := median(by["direct"])
	for _, t := range st.targets {
		rps := median(by[t.name])
		res.KeepAliveRedis = append(res.KeepAliveRedis, httpRow{Target: t.name, RPS: rps,
			RatioRPS: ratio(rps, direct), Errors: errs[t.name], RPSRounds: by[t.name]})
	}
	return nil
}

// redisBenchmark runs SET and GET against addr and returns their mean
// requests/s. A run in which any request failed is an error: redis-benchmark
// reports a reset connection on stderr and exits non-zero.
func redisBenchmark(ctx context.Context, addr string) (float64, error) {
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", host, "-p", port, "-k", "1",
		"-c", strconv.Itoa(redisClients), "-n", strconv.Itoa(redisRequests), "-t", "set,get", "--csv")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return 0, fmt.Errorf("reading its CSV: %w", err)
	}
	var sum float64
	var n int
	for _, rec := range records {
		if len(rec) < 2 || (rec[0] != "SET" && rec[0] != "GET") {
			continue
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return 0, fmt.Errorf("rps %q: %w", rec[1], err)
		}
		sum, n = sum+v, n+1
	}
	if n != 2 {
		return 0, fmt.Errorf("no SET and GET rows in %q", out)
	}
	return sum / 2, nil
}
