package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// identity is what GET / answers, so a client can tell instances apart.
type identity struct {
	pid     int
	started time.Time
	port    int
}

// answer is the line GET / sends to the client at addr (the address
// demoapp saw: the socket's peer, or the client a PROXY header named).
func (id identity) answer(client string) string {
	return fmt.Sprintf("pid=%d started=%s port=%d client=%s\n", id.pid, id.started.Format(time.RFC3339Nano), id.port, client)
}

// newHandler routes /, /health, /sick, /slow, /inflight, /alloc and /work. healthFile ""
// means healthy until POST /sick.
func newHandler(id identity, healthFile string) http.Handler {
	var inflight atomic.Int64 // /slow requests being served
	var sick atomic.Bool      // POST /sick: this process fails /health from now on
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, id.answer(r.RemoteAddr))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "unhealthy: POST /sick", http.StatusServiceUnavailable)
			return
		}
		health(w, healthFile)
	})
	mux.HandleFunc("POST /sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		fmt.Fprintf(w, "pid=%d answers 503 on /health from now on\n", id.pid)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		slow(w, r, id)
	})
	mux.HandleFunc("GET /inflight", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, inflight.Load())
	})
	mux.HandleFunc("GET /alloc", allocate)
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) { work(w, r, id) })
	return mux
}

// health answers 200 unless healthFile exists.
func health(w http.ResponseWriter, healthFile string) {
	if healthFile == "" {
		fmt.Fprintln(w, "ok")
		return
	}
	_, err := os.Stat(healthFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintln(w, "ok")
	case err == nil:
		http.Error(w, "unhealthy: "+healthFile+" exists", http.StatusServiceUnavailable)
	default:
		http.Error(w, "cannot check health file: "+err.Error(), http.StatusInternalServerError)
	}
}

// slow answers like / after ?ms=N milliseconds, to keep a request in flight.
func slow(w http.ResponseWriter, r *http.Request, id identity) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		http.Error(w, "ms must be a non-negative integer", http.StatusBadRequest)
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		fmt.Fprint(w, id.answer(r.RemoteAddr))
	case <-r.Context().Done(): // client gone, or the grace ran out
	}
}

// work answers like / after ?n=N thousand rounds of SHA-256 (about a
// millisecond of one core per 4 on a current CPU): a CPU-bound endpoint,
// to show what more instances of an app buy. The cost is a count, not a
// duration, so a busy machine makes it slower instead of cheaper.
func work(w http.ResponseWriter, r *http.Request, id identity) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || n < 0 || n > 1_000_000 {
		http.Error(w, "n must be an integer from 0 to 1000000", http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256([]byte(id.answer(r.RemoteAddr)))
	for range n * 1000 {
		sum = sha256.Sum256(sum[:])
	}
	fmt.Fprintf(w, "%sworked n=%d: %x\n", id.answer(r.RemoteAddr), n, sum[:4])
}

// held is the memory /alloc took; it is never given back.
var (
	heldMu sync.Mutex
	held   [][]byte
)

// allocate takes ?mb=N more megabytes and touches every page, so they
// count as the process's memory (to test memory limits).
func allocate(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 1 {
		http.Error(w, "mb must be a positive integer", http.StatusBadRequest)
		return
	}
	heldMu.Lock()
	defer heldMu.Unlock()
	for range mb {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held = append(held, b)
	}
	fmt.Fprintf(w, "holding %d MB\n", len(held))
}

// serveHTTP serves h on ln until a stop signal, then shuts down gracefully.
func (l lifecycle) serveHTTP(ln net.Listener, h http.Handler) int {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go serveHTTP(srv, ln, served)
	select {
	case err := <-served:
		return l.failed(err)
	case sig := <-l.stop:
		l.stopping(sig)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.grace)
	defer cancel()
	// Shutdown closes the listener and idle keep-alive connections at once,
	// then waits for in-flight requests.
	err := srv.Shutdown(ctx)
	<-served
	if err != nil {
		srv.Close()
		return l.graceExceeded("in-flight requests")
	}
	return l.stopped()
}

// serveHTTP is the server's accept loop; it reports how it ended.
func serveHTTP(srv *http.Server, ln net.Listener, served chan<- error) {
	served <- srv.Serve(ln)
}
