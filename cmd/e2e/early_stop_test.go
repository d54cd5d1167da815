package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// keepAliveLoad is clients that keep their connections between requests,
// as browsers and connection pools do, counting every failed request.
type keepAliveLoad struct {
	ok, fail atomic.Int64
	firstErr atomic.Value
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startKeepAliveLoad(t *testing.T, addr string, clients int) *keepAliveLoad {
	l := &keepAliveLoad{stop: make(chan struct{})}
	for range clients {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		l.wg.Add(1)
		go l.run(c, "http://"+addr+"/")
	}
	t.Cleanup(l.end)
	return l
}

func (l *keepAliveLoad) run(c *http.Client, url string) {
	defer l.wg.Done()
	defer c.CloseIdleConnections()
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			l.fail.Add(1)
			l.firstErr.CompareAndSwap(nil, err)
			continue
		}
		l.ok.Add(1)
		time.Sleep(5 * time.Millisecond) // the clients' pace
	}
}

func (l *keepAliveLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// TestEarlyStopSignal: keep-alive clients hold their connections to an old
// instance, so without early_stop_signal it stays DRAINING until
// drain_timeout; with it, the old instance gets stop_signal at the flip,
// closes its idle connections at a request boundary, and is gone within a
// second or two — and no request fails either way.
func TestEarlyStopSignal(t *testing.T) {
	e := newEnv(t)
	plain, early := e.newApp("plain", ""), e.newApp("early", "")
	plain.extra = "drain_timeout: 30"
	early.extra = "drain_timeout: 30\nearly_stop_signal: true"
	e.writeConfig(plain, early)
	d := e.start()
	lp, le := startKeepAliveLoad(t, plain.addr, 4), startKeepAliveLoad(t, early.addr, 4)
	testutil.Eventually(t, 10*time.Second, "the clients to run", func() bool { return lp.ok.Load() > 20 && le.ok.Load() > 20 })

	oldPlain := e.servingPID("plain")
	e.mustCtl(0, "reload", "plain")
	var gone []time.Duration
	for range 5 {
		old := e.servingPID("early")
		e.mustCtl(0, "reload", "early")
		flipped := time.Now()
		testutil.Eventually(t, 10*time.Second, "the old early-stopped instance to exit", func() bool { return !testutil.Alive(old) })
		gone = append(gone, time.Since(flipped).Round(time.Millisecond))
	}
	if !testutil.Alive(oldPlain) {
		t.Error("without early_stop_signal the old instance left before its keep-alive clients or drain_timeout")
	}
	lp.end()
	le.end()
	for name, l := range map[string]*keepAliveLoad{"plain": lp, "early": le} {
		if n := l.fail.Load(); n != 0 {
			t.Errorf("%s: %d of %d keep-alive requests failed; first: %v", name, n, n+l.ok.Load(), l.firstErr.Load())
		}
	}
	t.Logf("early_stop_signal: old instances gone %v after each reload; %d + %d keep-alive requests, 0 failed",
		gone, lp.ok.Load(), le.ok.Load())
	// The plain app's clients have closed their connections: its old
	// instance drains, and the log says so, then says how it exited.
	drained := regexp.MustCompile(fmt.Sprintf(`msg="drain complete" .*app=plain pid=%d connections_served=[1-9]`, oldPlain))
	exited := regexp.MustCompile(fmt.Sprintf(`msg="instance exited" .*app=plain pid=%d status="exited with status 0" after=`, oldPlain))
	testutil.Eventually(t, 15*time.Second, "the plain app's old instance to drain and exit", func() bool {
		return drained.MatchString(d.output.String()) && exited.MatchString(d.output.String())
	})
}
