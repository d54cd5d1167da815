//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strconv"
)

// measureBulk runs iperf3 with 1 and 8 streams through every target, in rounds
// whose target order rotates, and records the medians.
func measureBulk(ctx context.Context, st *stack, o options, res *results) error {
	type acc struct{ g1, g8, cpu1, cpu8 []float64 } // Gb/s, proxy CPU s/GB
	by := map[string]*acc{}
	for r := 0; r < o.rounds; r++ {
		for _, t := range rotate(st.targets, r) {
			a := by[t.name]
			if a == nil {
				a = &acc{}
				by[t.name] = a
			}
			for _, streams := range []int{1, 8} {
				cpu0 := cpuSeconds(t.pids())
				bps, bytes, err := iperf(ctx, t.bulk, streams, o)
				if err != nil {
					return fmt.Errorf("%s, %d streams: %w", t.name, streams, err)
				}
				cpu := 0.0
				if t.name != "direct" && bytes > 0 {
					cpu = (cpuSeconds(t.pids()) - cpu0) / (bytes / 1e9)
				}
				if streams == 1 {
					a.g1, a.cpu1 = append(a.g1, bps/1e9), append(a.cpu1, cpu)
				} else {
					a.g8, a.cpu8 = append(a.g8, bps/1e9), append(a.cpu8, cpu)
				}
			}
		}
	}
	d := by["direct"]
	for _, t := range st.targets {
		a := by[t.name]
		g1, g8 := median(a.g1), median(a.g8)
		res.Bulk = append(res.Bulk, bulkRow{Target: t.name, Gbps1: g1, Gbps8: g8,
			Ratio1: ratio(g1, median(d.g1)), Ratio8: ratio(g8, median(d.g8)),
			CPU1: median(a.cpu1), CPU8: median(a.cpu8), Rounds1: a.g1, Rounds8: a.g8})
	}
	return nil
}

// iperf returns the received bits/s and bytes of one iperf3 client run.
func iperf(ctx context.Context, addr string, streams int, o options) (bps, bytes float64, err error) {
	host, port, _ := net.SplitHostPort(addr)
	secs := strconv.Itoa(max(1, int(o.bulkTime.Seconds())))
	out, err := exec.CommandContext(ctx, "iperf3", "-c", host, "-p", port, "-t", secs,
		"-P", strconv.Itoa(streams), "-J").Output()
	var rep struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Bytes         float64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		return 0, 0, fmt.Errorf("iperf3: %v (%v)", err, jerr)
	}
	if rep.Error != "" {
		return 0, 0, fmt.Errorf("iperf3: %s", rep.Error)
	}
	return rep.End.SumReceived.BitsPerSecond, rep.End.SumReceived.Bytes, err
}

// rotate returns ts starting at index r mod len(ts), so that no target always runs first.
func rotate(ts []*target, r int) []*target {
	k := r % len(ts)
	return append(append([]*target(nil), ts[k:]...), ts[:k]...)
}
