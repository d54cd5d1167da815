package l4proxy

// Benchmarks run every case twice in the same run, "direct" (client to the
// backend server) and "proxied" (client to a Proxy in front of the same
// server), so ratios can be read off one output:
//
//	go test -bench . -run '^$' ./l4proxy/
//
// Client, proxy and server are separate processes (see directAndProxied)
// sharing the machine's cores. L4PROXY_BENCH_GOMAXPROCS=N sets GOMAXPROCS
// for the proxy process only.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const benchChunk = 256 << 10

// directAndProxied runs fn against a server running the named handler of
// childHandlers: "direct", and through a Proxy: "proxied".
//
// As in production, client, proxy and server are separate processes: the
// server and the proxy run in children (the re-executed test binary), the
// client in this process. "inproc" runs the proxy inside this process
// instead, next to the client.
func directAndProxied(b *testing.B, handler string, fn func(b *testing.B, addr string)) {
	srv := startChild(b, "server", childHandlerEnv+"="+handler)
	p := &Proxy{}
	p.Switch(NewBackend(srv.addr))
	inproc := startProxy(b, p)
	proxy := startProxyChild(b, srv.addr, "", "GOMAXPROCS="+os.Getenv("L4PROXY_BENCH_GOMAXPROCS"))
	pid := proxy.cmd.Process.Pid
	b.Run("direct", func(b *testing.B) { withCPU(b, 0, func() { fn(b, srv.addr) }) })
	b.Run("proxied", func(b *testing.B) { withCPU(b, pid, func() { fn(b, proxy.addr) }) })
	b.Run("inproc", func(b *testing.B) { withCPU(b, 0, func() { fn(b, inproc) }) })
	for _, c := range []*child{proxy, srv} {
		if _, _, _, err := c.stop(); err != nil {
			b.Error(err)
		}
	}
}

// withCPU runs fn and reports the CPU time it took per operation:
// "cpu-ns/op" for this process (client, and the proxy if inproc) plus the
// proxy child (if pid != 0), and "proxy-cpu-ns/op" for the child alone.
// The server's CPU is not included. CPU time is less sensitive than wall
// time to other load on a shared machine.
func withCPU(b *testing.B, pid int, fn func()) {
	self0, child0 := selfCPU(b), processCPU(b, pid)
	fn()
	self, child := selfCPU(b)-self0, processCPU(b, pid)-child0
	b.ReportMetric(float64((self+child).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if pid != 0 {
		b.ReportMetric(float64(child.Nanoseconds())/float64(b.N), "proxy-cpu-ns/op")
	}
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU returns the user+system CPU time pid has used (all threads),
// from /proc/PID/stat at clock-tick (10 ms) resolution.
func processCPU(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesized command name; utime and stime are
	// fields 14 and 15 of the whole line.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond // CLK_TCK is 100 on Linux
}

// sink reads until EOF with a large buffer, then reports the byte count.
func sink(c net.Conn) {
	buf := make([]byte, benchChunk)
	var n uint64
	for {
		m, err := c.Read(buf)
		n += uint64(m)
		if err != nil {
			break
		}
	}
	c.Write(binary.LittleEndian.AppendUint64(nil, n))
}

// upload sends chunks×benchChunk bytes on a new connection and waits until
// the sink confirms it got them all.
func upload(addr string, chunks int, ready *sync.WaitGroup, start <-chan struct{}) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		ready.Done()
		return err
	}
	defer c.Close()
	buf := make([]byte, benchChunk)
	ready.Done()
	<-start
	for range chunks {
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	var ack [8]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(ack[:]); got != uint64(chunks*benchChunk) {
		return fmt.Errorf("sink got %d bytes, sent %d", got, chunks*benchChunk)
	}
	return nil
}

// bulk uploads b.N chunks over streams parallel connections.
func bulk(streams int) func(b *testing.B, addr string) {
	return func(b *testing.B, addr string) {
		b.SetBytes(benchChunk)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, streams)
		ready.Add(streams)
		done.Add(streams)
		for i := range streams {
			chunks := b.N / streams
			if i < b.N%streams {
				chunks++
			}
			go func() {
				defer done.Done()
				errs <- upload(addr, chunks, &ready, start)
			}()
		}
		ready.Wait()
		b.ResetTimer()
		close(start)
		done.Wait()
		b.StopTimer()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBulk1 is one upload stream (throughput in MB/s).
func BenchmarkBulk1(b *testing.B) { directAndProxied(b, "sink", bulk(1)) }

// BenchmarkBulk8 is eight parallel upload streams (aggregate MB/s).
func BenchmarkBulk8(b *testing.B) { directAndProxied(b, "sink", bulk(8)) }

// answerAndClose reads a one-byte request, answers one byte and closes
// first, so TIME_WAIT stays on the server side and ephemeral ports last.
func answerAndClose(c net.Conn) {
	var req [1]byte
	if _, err := io.ReadFull(c, req[:]); err == nil {
		c.Write(req[:])
	}
}

// BenchmarkShortConn is connect + one-byte request/response + close, from
// eight concurrent clients (ns/op is the inverse of the connection rate).
func BenchmarkShortConn(b *testing.B) {
	directAndProxied(b, "answerAndClose", func(b *testing.B, addr string) {
		b.SetParallelism(4) // 4×GOMAXPROCS clients
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := shortConn(addr); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
	})
}

func shortConn(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'?'}); err != nil {
		return err
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(resp) != "?" {
		return errors.New("bad response " + string(resp))
	}
	return nil
}

// echoRaw echoes with a plain read/write loop (like a request/response
// server would).
func echoRaw(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// BenchmarkRoundTrip is one 64-byte request/response on an open connection
// (ns/op is the round-trip latency).
func BenchmarkRoundTrip(b *testing.B) {
	directAndProxied(b, "echoRaw", func(b *testing.B, addr string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msg, got := make([]byte, 64), make([]byte, 64)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
