//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// check is one of the targets, evaluated on this run's figures.
type check struct {
	Target string  `json:"target"`
	Got    float64 `json:"got"`
	Want   string  `json:"want"`
	Met    bool    `json:"met"`
}

// evaluate compares gracevisord with direct and HAProxy, as the issue asks.
func (r *results) evaluate() {
	b, bh := r.bulk("gracevisord"), r.bulk("haproxy")
	s, sh := row(r.Short, "gracevisord"), row(r.Short, "haproxy")
	k, kh := row(r.KeepAlive, "gracevisord"), row(r.KeepAlive, "haproxy")
	add := func(target string, got float64, want string, met bool) {
		r.Checks = append(r.Checks, check{target, got, want, met})
	}
	if len(r.Bulk) > 0 { // a run with -only may leave sections out
		add("bulk 1 stream, ratio to direct", b.Ratio1, ">= 0.70", b.Ratio1 >= 0.70)
		add("bulk 1 stream, ratio to HAProxy", ratio(b.Gbps1, bh.Gbps1), ">= 1", b.Gbps1 >= bh.Gbps1)
		add("bulk 8 streams, ratio to HAProxy", ratio(b.Gbps8, bh.Gbps8), ">= 1", b.Gbps8 >= bh.Gbps8)
	}
	if len(r.Short) > 0 {
		add("short connections req/s, ratio to HAProxy", ratio(s.RPS, sh.RPS), ">= 0.90", s.RPS >= 0.9*sh.RPS)
	}
	if len(r.KeepAlive) > 0 {
		add("keep-alive p99, ratio to HAProxy", ratio(k.P99ms, kh.P99ms), "<= 1.50", k.P99ms <= 1.5*kh.P99ms)
	}
	if ka, kah := row(r.KeepAliveRPS, "gracevisord"), row(r.KeepAliveRPS, "haproxy"); kah.RPS > 0 {
		add("keep-alive req/s, ratio to HAProxy", ratio(ka.RPS, kah.RPS), ">= 1.0", ka.RPS >= kah.RPS)
	}
	if kr, krh := row(r.KeepAliveRedis, "gracevisord"), row(r.KeepAliveRedis, "haproxy"); krh.RPS > 0 {
		add("redis -k 1 req/s, ratio to HAProxy", ratio(kr.RPS, krh.RPS), ">= 1.0", kr.RPS >= krh.RPS)
	}
	r.evaluateDataPlane()
	for _, x := range r.Reload {
		if x.Operation == "reload" || x.Operation == "upgrade" {
			failed := float64(x.FailedRequests + x.FailedConns + x.OpFailures)
			add(fmt.Sprintf("failures during %d %ss", x.Count, x.Operation), failed, "0", failed == 0)
		}
	}
}

// evaluateDataPlane adds the data-plane issue's stricter targets (issue 14:
// per-connection cost, idle memory and descriptors, CPU per GB).
func (r *results) evaluateDataPlane() {
	add := func(target string, got float64, want string, met bool) {
		r.Checks = append(r.Checks, check{target + " [14]", got, want, met})
	}
	if b, bh := r.bulk("gracevisord"), r.bulk("haproxy"); len(r.Bulk) > 0 && bh.CPU1 > 0 {
		add("bulk 1 stream, ratio to HAProxy", ratio(b.Gbps1, bh.Gbps1), ">= 1.20", b.Gbps1 >= 1.2*bh.Gbps1)
		add("proxy CPU s/GB, 1 stream, ratio to HAProxy", ratio(b.CPU1, bh.CPU1), "<= 0.60", b.CPU1 <= 0.6*bh.CPU1)
	}
	if s, sh := row(r.Short, "gracevisord"), row(r.Short, "haproxy"); sh.ProxyCPUus > 0 {
		add("short connections req/s, ratio to HAProxy", ratio(s.RPS, sh.RPS), ">= 1.10", s.RPS >= 1.1*sh.RPS)
		add("proxy CPU per short connection, ratio to HAProxy", ratio(s.ProxyCPUus, sh.ProxyCPUus), "<= 0.90", s.ProxyCPUus <= 0.9*sh.ProxyCPUus)
	}
	if k, kh := row(r.KeepAlive, "gracevisord"), row(r.KeepAlive, "haproxy"); kh.P99ms > 0 {
		add("keep-alive p99, ratio to HAProxy", ratio(k.P99ms, kh.P99ms), "<= 1.20", k.P99ms <= 1.2*kh.P99ms)
	}
	if i, ih := r.idle("gracevisord"), r.idle("haproxy"); i.Conns > 0 {
		add("idle fds per connection", i.FDsPerConn, "<= 2.05", i.FDsPerConn <= 2.05)
		if ih.Conns > 0 && ih.RSSKBPerConn > 0 {
			add("idle KB per connection, ratio to HAProxy", ratio(i.RSSKBPerConn, ih.RSSKBPerConn), "<= 0.10", i.RSSKBPerConn <= 0.1*ih.RSSKBPerConn)
		}
	}
}

func (r *results) idle(target string) idleRow {
	for _, i := range r.Idle {
		if i.Target == target {
			return i
		}
	}
	return idleRow{}
}

func (r *results) bulk(target string) bulkRow {
	for _, b := range r.Bulk {
		if b.Target == target {
			return b
		}
	}
	return bulkRow{}
}

func row(rows []httpRow, target string) httpRow {
	for _, h := range rows {
		if h.Target == target {
			return h
		}
	}
	return httpRow{}
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\ngracevisor benchmarks, %s, %d cores, load average %s → %s: %s\n",
		r.Date, r.Cores, r.LoadAvg[0], r.LoadAvg[1], r.Command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	section := func(title, header string) {
		fmt.Fprintf(tw, "\n%s\t\n%s\t\n", title, header)
	}
	section("bulk (iperf3)", "target\t1 stream Gb/s\tratio\tCPU s/GB\t8 streams Gb/s\tratio\tCPU s/GB")
	for _, b := range r.Bulk {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%.2f\t%.2f\t%s\t\n", b.Target, b.Gbps1, b.Ratio1, cpu(b.Target, b.CPU1),
			b.Gbps8, b.Ratio8, cpu(b.Target, b.CPU8))
	}
	for _, part := range []struct {
		title string
		rows  []httpRow
	}{{"short connections (wrk, Connection: close)", r.Short}, {"keep-alive, fixed rate", r.KeepAlive},
		{"keep-alive throughput (wrk, persistent connections)", r.KeepAliveRPS},
		{"redis keep-alive throughput (redis-benchmark -k 1, SET and GET)", r.KeepAliveRedis}} {
		section(part.title, "target\treq/s\tratio\tp50 ms\tp99 ms\terrors\tproxy CPU µs/req")
		for _, h := range part.rows {
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.3f\t%.3f\t%d\t%s\t\n", h.Target, h.RPS, h.RatioRPS, h.P50ms, h.P99ms,
				h.Errors, micro(h.Target, h.ProxyCPUus))
		}
	}
	section("instances (gracevisord, CPU-bound /work, one core per instance)", "instances\treq/s\tratio to 1\tp99 ms\terrors")
	for _, x := range r.Instances {
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t%.3f\t%d\t\n", x.Instances, x.RPS, x.RatioToOne, x.P99ms, x.Errors)
	}
	section("idle connections", "target\tconns\tRSS KB/conn\tfds/conn\tfailed")
	for _, i := range r.Idle {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%d\t\n", i.Target, i.Conns, i.RSSKBPerConn, i.FDsPerConn, i.OpenFailedConn)
	}
	section("under load (gracevisord)",
		"operation\tcount\tfailed ops\treq/s\trequests\tfailed req\tfailed conn\tmedian ms\tmax ms")
	for _, x := range r.Reload {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t\n", x.Operation, x.Count, x.OpFailures, x.RPS,
			x.Requests, x.FailedRequests, x.FailedConns, x.MedianMS, x.MaxMS)
	}
	section("targets (gracevisord)", "target\tgot\twant\tmet")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%v\t\n", c.Target, c.Got, c.Want, c.Met)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// micro renders a proxy's CPU µs per request; direct has no proxy, and 0
// means not measured.
func micro(target string, v float64) string {
	if target == "direct" || v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// cpu renders a proxy's CPU s/GB; direct has no proxy.
func cpu(target string, v float64) string {
	if target == "direct" {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

// markdown renders the tables docs/performance.md holds.
func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %d cores, load average %s → %s, `%s`\n\n",
		r.Date, r.Cores, r.LoadAvg[0], r.LoadAvg[1], r.Command)
	if len(r.Bulk) == 0 { // make bench-idle: the idle step alone
		b.WriteString("| target | idle connections held | idle KB/conn (first batch) | idle KB/conn (second batch) | idle fds/conn | failed to open |\n|---|---|---|---|---|---|\n")
		for _, x := range r.Idle {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.2f | %d |\n", x.Target, x.Conns, x.RSSKBPerConn, x.RSSKBPerConnWarm, x.FDsPerConn, x.OpenFailedConn)
		}
		return b.String()
	}
	b.WriteString("| target | bulk 1 stream Gb/s (ratio) | CPU s/GB | bulk 8 streams Gb/s (ratio) | CPU s/GB | short conn req/s (ratio) | short p50/p99 ms | proxy CPU µs/conn | keep-alive p50/p99 ms | keep-alive req/s (ratio) | idle KB/conn | idle fds/conn |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, bl := range r.Bulk {
		s, k, kr := row(r.Short, bl.Target), row(r.KeepAlive, bl.Target), row(r.KeepAliveRPS, bl.Target)
		idle := "– | –"
		for _, x := range r.Idle {
			if x.Target == bl.Target {
				idle = fmt.Sprintf("%.1f | %.2f", x.RSSKBPerConn, x.FDsPerConn)
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f (%.2f) | %s | %.2f (%.2f) | %s | %.0f (%.2f) | %.2f / %.2f | %s | %.2f / %.2f | %.0f (%.2f) | %s |\n",
			bl.Target, bl.Gbps1, bl.Ratio1, cpu(bl.Target, bl.CPU1), bl.Gbps8, bl.Ratio8, cpu(bl.Target, bl.CPU8),
			s.RPS, s.RatioRPS, s.P50ms, s.P99ms, micro(bl.Target, s.ProxyCPUus), k.P50ms, k.P99ms, kr.RPS, kr.RatioRPS, idle)
	}
	if len(r.KeepAliveRedis) > 0 {
		b.WriteString("\n| target | redis-benchmark -k 1 req/s (ratio to direct) | errors |\n|---|---|---|\n")
		for _, x := range r.KeepAliveRedis {
			fmt.Fprintf(&b, "| %s | %.0f (%.2f) | %d |\n", x.Target, x.RPS, x.RatioRPS, x.Errors)
		}
	}
	if len(r.Instances) > 0 {
		b.WriteString("\n| gracevisord, CPU-bound app (one core per instance) | req/s (ratio to 1 instance) | p99 ms | errors |\n|---|---|---|---|\n")
		for _, x := range r.Instances {
			fmt.Fprintf(&b, "| `instances: %d` | %.0f (%.2f) | %.2f | %d |\n", x.Instances, x.RPS, x.RatioToOne, x.P99ms, x.Errors)
		}
	}
	b.WriteString("\n| gracevisord under short-connection load | count | req/s | failed requests | failed connections | median ms | max ms |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.Reload {
		cmd := "gracevisorctl " + x.Operation + " demo"
		if x.Operation == "upgrade" {
			cmd = "gracevisorctl upgrade (daemon upgrade)"
		}
		fmt.Fprintf(&b, "| `%s` | %d | %.0f | %d | %d | %.0f | %.0f |\n", cmd, x.Count, x.RPS,
			x.FailedRequests, x.FailedConns, x.MedianMS, x.MaxMS)
	}
	return b.String()
}
