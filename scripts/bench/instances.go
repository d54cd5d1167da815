//go:build linux

package main

import (
	"context"
	"fmt"
)

// What more instances of an app buy: gracevisord fronts the same
// CPU-bound endpoint (demoapp's /work) run as one instance and as two, each
// instance held to one core (GOMAXPROCS=1, like a Node.js or CPython
// process), and wrk measures keep-alive throughput through each.
const (
	workPath = "/work?n=4" // four thousand SHA-256 rounds: about 0.6 ms of one core here
	// instancesApps are gracevisord's app entries for the step.
	instancesApps = `  - {name: work1, command: "%[1]s/demoapp --host 127.0.0.1 --port={port}", environment: [GOMAXPROCS=1],
     internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %[2]s}
  - {name: work2, command: "%[1]s/demoapp --host 127.0.0.1 --port={port}", environment: [GOMAXPROCS=1],
     instances: 2, internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %[3]s}
`
)

// measureInstances runs wrk (keep-alive) against work1 and work2 in rotating
// rounds and reports their medians and the ratio of two instances to one.
func measureInstances(ctx context.Context, st *stack, o options, res *results) error {
	gv := st.target("gracevisord")
	apps := []struct {
		instances int
		addr      string
	}{{1, gv.work1}, {2, gv.work2}}
	rps := map[int][]float64{}
	p99 := map[int][]float64{}
	errs := map[int]int{}
	for r := 0; r < o.rounds; r++ {
		for i := range apps {
			a := apps[(i+r)%len(apps)]
			w, err := runWrkURL(ctx, "http://"+a.addr+workPath, o.duration, nil, true)
			if err != nil {
				return fmt.Errorf("instances: %d: %w", a.instances, err)
			}
			rps[a.instances] = append(rps[a.instances], w.rps)
			p99[a.instances] = append(p99[a.instances], w.p99ms)
			errs[a.instances] += w.failedConns + w.failedRequests
		}
	}
	one := median(rps[1])
	for _, a := range apps {
		res.Instances = append(res.Instances, instancesRow{Instances: a.instances, RPS: median(rps[a.instances]),
			P99ms: median(p99[a.instances]), Errors: errs[a.instances], RatioToOne: ratio(median(rps[a.instances]), one),
			RPSRounds: rps[a.instances]})
	}
	return nil
}

// instancesRow is one app of the instances step.
type instancesRow struct {
	Instances  int       `json:"instances"`
	RPS        float64   `json:"requests_per_s"`
	P99ms      float64   `json:"p99_ms"`
	Errors     int       `json:"errors"`
	RatioToOne float64   `json:"ratio_to_one_instance"`
	RPSRounds  []float64 `json:"requests_per_s_rounds"`
}
