//go:build linux

package main

import "sort"

// results is one run of `make bench`, saved as JSON in scripts/bench/results/.
type results struct {
	Date     string            `json:"date"`
	Cores    int               `json:"cores"`
	Command  string            `json:"command"`
	Versions map[string]string `json:"versions"`
	FDLimit  int               `json:"fd_limit"`
	LoadAvg  [2]string         `json:"loadavg_start_end"` // /proc/loadavg: the machine's other load
	Notes    []string          `json:"notes,omitempty"`
	Checks   []check           `json:"targets"`

	Bulk      []bulkRow `json:"bulk"`
	Short     []httpRow `json:"short_connections"`
	KeepAlive []httpRow `json:"keepalive"`
	// KeepAliveRPS is wrk over persistent connections, as fast as it goes.
	KeepAliveRPS []httpRow `json:"keepalive_throughput"`
	// KeepAliveRedis is redis-benchmark -k 1 (SET and GET), as fast as it goes.
	KeepAliveRedis []httpRow `json:"keepalive_redis,omitempty"`
	// Instances is a CPU-bound app as one instance and as two.
	Instances []instancesRow `json:"instances,omitempty"`
	Idle      []idleRow      `json:"idle"`
	Reload    []reloadRow    `json:"reload_under_load"`
}

type bulkRow struct {
	Target string  `json:"target"`
	Gbps1  float64 `json:"gbps_1_stream"`
	Gbps8  float64 `json:"gbps_8_streams"`
	Ratio1 float64 `json:"ratio_1_stream"`
	Ratio8 float64 `json:"ratio_8_streams"`
	CPU1   float64 `json:"proxy_cpu_s_per_gb_1_stream"` // the proxy's processes only
	CPU8   float64 `json:"proxy_cpu_s_per_gb_8_streams"`
	// The rounds' values, to show the spread behind the medians.
	Rounds1 []float64 `json:"gbps_1_stream_rounds"`
	Rounds8 []float64 `json:"gbps_8_streams_rounds"`
}

type httpRow struct {
	Target   string  `json:"target"`
	RPS      float64 `json:"requests_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	Errors   int     `json:"errors"`
	RatioRPS float64 `json:"ratio_rps_to_direct"`
	// ProxyCPUus is the proxy's CPU time per request (short connections
	// only): less sensitive than req/s to the machine's other load.
	ProxyCPUus float64   `json:"proxy_cpu_us_per_request,omitempty"`
	RPSRounds  []float64 `json:"requests_per_s_rounds"`
	P99Rounds  []float64 `json:"p99_ms_rounds"`
}

type idleRow struct {
	Target           string  `json:"target"`
	Conns            int     `json:"connections"`
	RSSKBPerConn     float64 `json:"rss_kb_per_conn"`      // the first batch of connections
	RSSKBPerConnWarm float64 `json:"rss_kb_per_conn_warm"` // a second batch, after the first closed
	FDsPerConn       float64 `json:"fds_per_conn"`
	OpenFailedConn   int     `json:"failed_to_open"`
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
