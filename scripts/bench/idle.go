package main

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// measureIdle opens o.idleConns connections through each proxy to the echo
// backend, proves each reaches the backend with one echoed line, and records the
// proxy's extra RSS and file descriptors per connection while they sit idle.
func measureIdle(ctx context.Context, st *stack, o options, res *results) error {
	for _, t := range st.targets {
		if t.name == "direct" {
			continue
		}
		pids := t.pids()
		rss0, fds0 := rssKB(pids), fdCount(pids)
		conns, failed := openIdle(ctx, t.echo, o.idleConns)
		settle(pids)
		rss1, fds1 := rssKB(t.pids()), fdCount(t.pids())
		n := len(conns)
		for _, c := range conns {
			c.Close()
		}
		row := idleRow{Target: t.name, Conns: n, OpenFailedConn: failed}
		if n > 0 {
			row.RSSKBPerConn = float64(rss1-rss0) / float64(n)
			row.FDsPerConn = float64(fds1-fds0) / float64(n)
		}
		res.Idle = append(res.Idle, row)
		waitFDs(pids, fds0)
	}
	return nil
}

// openIdle dials n connections with a few workers; each sends and reads back one line.
func openIdle(ctx context.Context, addr string, n int) ([]net.Conn, int) {
	var (
		mu     sync.Mutex
		conns  []net.Conn
		failed int
		wg     sync.WaitGroup
		next   = make(chan struct{})
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := echoOnce(addr)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return conns, failed
}

func echoOnce(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("hi\n")); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// settle polls until the proxy's fd count stops changing (a proxy may still be
// finishing backend dials), for at most 5 s.
func settle(pids []int) {
	last := -1
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		n := fdCount(pids)
		if n == last {
			return
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
}

// waitFDs polls until the proxy is back near its idle fd count, for at most 30 s.
func waitFDs(pids []int, base int) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if fdCount(pids) <= base+16 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
