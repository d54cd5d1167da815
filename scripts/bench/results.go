package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// results is one run of `make bench`, saved as JSON in scripts/bench/results/.
type results struct {
	Date     string            `json:"date"`
	Cores    int               `json:"cores"`
	Command  string            `json:"command"`
	Versions map[string]string `json:"versions"`

	Bulk      []bulkRow   `json:"bulk"`
	Short     []httpRow   `json:"short_connections"`
	KeepAlive []httpRow   `json:"keepalive"`
	Idle      []idleRow   `json:"idle"`
	Reload    []reloadRow `json:"reload_under_load"`
}

type bulkRow struct {
	Target      string  `json:"target"`
	Gbps1       float64 `json:"gbps_1_stream"`
	Gbps8       float64 `json:"gbps_8_streams"`
	Ratio1      float64 `json:"ratio_1_stream"`
	Ratio8      float64 `json:"ratio_8_streams"`
	CPUSecPerGB float64 `json:"proxy_cpu_s_per_gb"`
}

type httpRow struct {
	Target   string  `json:"target"`
	RPS      float64 `json:"requests_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Errors   int     `json:"errors"`
	RatioRPS float64 `json:"ratio_rps_to_direct"`
}

type idleRow struct {
	Target         string  `json:"target"`
	Conns          int     `json:"connections"`
	RSSKBPerConn   float64 `json:"rss_kb_per_conn"`
	FDsPerConn     float64 `json:"fds_per_conn"`
	OpenFailedConn int     `json:"failed_to_open"`
}

type reloadRow struct {
	Operation      string  `json:"operation"`
	Count          int     `json:"count"`
	OpFailures     int     `json:"failed_operations"`
	RPS            float64 `json:"requests_per_s"`
	Requests       int     `json:"requests"`
	FailedRequests int     `json:"failed_requests"`
	FailedConns    int     `json:"failed_connections"`
	MedianMS       float64 `json:"median_ms"`
	MaxMS          float64 `json:"max_ms"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(x, direct float64) float64 {
	if direct == 0 {
		return 0
	}
	return x / direct
}

func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\ngracevisor benchmarks, %s, %d cores: %s\n", r.Date, r.Cores, r.Command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	section := func(title, header string) {
		fmt.Fprintf(tw, "\n%s\t\n%s\t\n", title, header)
	}
	section("bulk (iperf3)", "target\t1 stream Gb/s\tratio\t8 streams Gb/s\tratio\tproxy CPU s/GB")
	for _, b := range r.Bulk {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", b.Target, b.Gbps1, b.Ratio1, b.Gbps8, b.Ratio8, b.CPUSecPerGB)
	}
	for _, part := range []struct {
		title string
		rows  []httpRow
	}{{"short connections (wrk, Connection: close)", r.Short}, {"keep-alive, fixed rate", r.KeepAlive}} {
		section(part.title, "target\treq/s\tratio\tp50 ms\tp99 ms\terrors")
		for _, h := range part.rows {
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.3f\t%.3f\t%d\t\n", h.Target, h.RPS, h.RatioRPS, h.P50ms, h.P99ms, h.Errors)
		}
	}
	section("idle connections", "target\tconns\tRSS KB/conn\tfds/conn\tfailed")
	for _, i := range r.Idle {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%d\t\n", i.Target, i.Conns, i.RSSKBPerConn, i.FDsPerConn, i.OpenFailedConn)
	}
	section("under load (gracevisord)", "operation\tcount\tfailed ops\treq/s\trequests\tfailed req\tfailed conn\tmedian ms\tmax ms")
	for _, x := range r.Reload {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%d\t%d\t%d\t%.1f\t%.1f\t\n", x.Operation, x.Count, x.OpFailures, x.RPS,
			x.Requests, x.FailedRequests, x.FailedConns, x.MedianMS, x.MaxMS)
	}
	tw.Flush()
}

// markdown renders the table the README's Performance section holds.
func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| target | bulk 1 stream Gb/s (ratio) | bulk 8 streams Gb/s (ratio) | CPU s/GB | short conn req/s (ratio) | short p99 ms | keep-alive p50/p99 ms | idle KB/conn | idle fds/conn |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for i, bl := range r.Bulk {
		s, k, id := httpRow{}, httpRow{}, idleRow{}
		if i < len(r.Short) {
			s = r.Short[i]
		}
		if i < len(r.KeepAlive) {
			k = r.KeepAlive[i]
		}
		for _, x := range r.Idle {
			if x.Target == bl.Target {
				id = x
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f (%.2f) | %.2f (%.2f) | %.2f | %.0f (%.2f) | %.2f | %.3f / %.3f | %.2f | %.2f |\n",
			bl.Target, bl.Gbps1, bl.Ratio1, bl.Gbps8, bl.Ratio8, bl.CPUSecPerGB, s.RPS, s.RatioRPS, s.P99ms,
			k.P50ms, k.P99ms, id.RSSKBPerConn, id.FDsPerConn)
	}
	return b.String()
}
