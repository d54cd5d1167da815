//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// fdsPerIdleConn is the most descriptors a proxy here holds per connection
// while the test opens them: two sockets, and for a moment two splice pipes
// (two descriptors each) while the first line is echoed. Idle, gracevisord
// holds two.
const fdsPerIdleConn = 6

// measureIdle opens o.idleConns connections through each proxy to the echo
// backend, proves each reaches the backend with one echoed line, and records the
// proxy's extra RSS and file descriptors per connection while they sit idle.
// Every proxy gets the same count, capped by what RLIMIT_NOFILE allows.
func measureIdle(ctx context.Context, st *stack, o options, res *results) error {
	n := min(o.idleConns, (st.fdLimit-300)/fdsPerIdleConn)
	if n < o.idleConns {
		res.Notes = append(res.Notes, fmt.Sprintf("idle: %d connections instead of %d: RLIMIT_NOFILE is %d "+
			"here and cannot be raised; a proxy may hold %d descriptors per connection while it is opened",
			n, o.idleConns, st.fdLimit, fdsPerIdleConn))
	}
	for _, t := range st.targets {
		if t.name == "direct" {
			continue
		}
		pids := t.pids()
		// Twice: the first batch ("cold") is what the figures
		// are; the second, after the first was closed, is what an open
		// connection costs once a process has grown its pools and heap
		// (and, for Go, kept the freed stacks of the goroutines that dialed).
		var row idleRow
		for batch := range 2 {
			socks0 := socketCount(pids)
			rss0, fds0 := rssKB(pids), fdCount(pids)
			conns, failed := openIdle(ctx, t.echo, n)
			settle(pids)
			rss1, fds1 := rssKB(t.pids()), fdCount(t.pids())
			held := len(conns)
			for _, c := range conns {
				c.Close()
			}
			waitSockets(pids, socks0)
			if batch == 0 {
				row = idleRow{Target: t.name, Conns: held, OpenFailedConn: failed}
				if held > 0 {
					row.RSSKBPerConn = float64(rss1-rss0) / float64(held)
					row.FDsPerConn = float64(fds1-fds0) / float64(held)
				}
			} else if held > 0 {
				row.RSSKBPerConnWarm = float64(rss1-rss0) / float64(held)
			}
		}
		res.Idle = append(res.Idle, row)
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
		next   = make(chan int)
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := echoOnce(addr, sourceAddr(i))
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
	for i := 0; i < n && ctx.Err() == nil && !hopeless(&mu, &failed, &conns); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, failed
}

// idleSources is how many loopback source addresses the idle connections
// are spread over. One source address reaches one destination from at most
// the ephemeral port range (28,232 ports by default), so 100,000
// connections need several; all of 127.0.0.0/8 is the loopback's.
const idleSources = 64

// sourceAddr is the local address of the i-th idle connection: 127.0.1.x,
// x cycling through idleSources addresses, any port.
func sourceAddr(i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%idleSources))}
}

func echoOnce(addr string, src *net.TCPAddr) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: src}
	c, err := d.Dial("tcp", addr)
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

// waitSockets polls until the proxy has closed the connections, for at most 30 s.
// (Sockets, not all descriptors: Go keeps spare splice pipes until a GC.)
func waitSockets(pids []int, base int) {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if socketCount(pids) <= base+16 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hopeless reports whether the first hundred connections all failed: the
// target is not answering (e.g. the machine ran out of ports for a moment),
// and trying the rest, 10 s each, would stall the run for an hour.
func hopeless(mu *sync.Mutex, failed *int, conns *[]net.Conn) bool {
	mu.Lock()
	defer mu.Unlock()
	return *failed >= 100 && len(*conns) == 0
}
