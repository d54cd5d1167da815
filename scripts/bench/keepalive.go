//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

const (
	keepAliveConns = 8
	keepAliveRate  = 2000 // requests/s in all, a moderate load on 2 cores
)

// measureKeepAlive sends requests at a fixed rate over persistent connections and
// records latency from each request's scheduled time (so a stall is not hidden by
// the sender slowing down).
func measureKeepAlive(ctx context.Context, st *stack, o options, res *results) error {
	type acc struct {
		p50, p99, rps []float64
		errs          int
	}
	by := map[string]*acc{}
	for r := 0; r < o.rounds; r++ {
		for _, t := range rotate(st.targets, r) {
			lat, errs := fixedRate(ctx, t.demo, o.duration)
			a := by[t.name]
			if a == nil {
				a = &acc{}
				by[t.name] = a
			}
			a.errs += errs
			if len(lat) == 0 {
				return fmt.Errorf("%s: no request succeeded", t.name)
			}
			sort.Float64s(lat)
			a.p50 = append(a.p50, lat[len(lat)/2])
			a.p99 = append(a.p99, lat[len(lat)*99/100])
			a.rps = append(a.rps, float64(len(lat))/o.duration.Seconds())
		}
	}
	direct := median(by["direct"].rps)
	for _, t := range st.targets {
		a := by[t.name]
		res.KeepAlive = append(res.KeepAlive, httpRow{Target: t.name, RPS: median(a.rps), P50ms: median(a.p50),
			P99ms: median(a.p99), Errors: a.errs, RatioRPS: ratio(median(a.rps), direct),
			RPSRounds: a.rps, P99Rounds: a.p99})
	}
	return nil
}

// fixedRate returns the latencies in ms of the requests that succeeded, and the error count.
func fixedRate(ctx context.Context, addr string, d time.Duration) ([]float64, int) {
	var (
		mu   sync.Mutex
		all  []float64
		errs int
		wg   sync.WaitGroup
	)
	interval := time.Second * keepAliveConns / keepAliveRate
	for i := 0; i < keepAliveConns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat, e := keepAliveClient(ctx, addr, d, interval)
			mu.Lock()
			all, errs = append(all, lat...), errs+e
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs
}

func keepAliveClient(ctx context.Context, addr string, d, interval time.Duration) ([]float64, int) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, 1
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
	var lat []float64
	start := time.Now()
	for next := start; next.Sub(start) < d && ctx.Err() == nil; next = next.Add(interval) {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait) // pacing the load generator, not waiting for a condition
		}
		if _, err := conn.Write(req); err != nil {
			return lat, 1
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return lat, 1
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return lat, 1
		}
		lat = append(lat, float64(time.Since(next).Microseconds())/1000)
	}
	return lat, 0
}
