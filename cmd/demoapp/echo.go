package main

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// echoServer writes every line a client sends back to it. Its fields are
// guarded by mu; one goroutine per connection, plus the accept loop.
type echoServer struct {
	wg    sync.WaitGroup // one per open connection
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// serveEcho runs the echo server on ln until a stop signal. Open connections
// then get the grace period to finish before they are closed.
func (l lifecycle) serveEcho(ln net.Listener) int {
	s := &echoServer{conns: make(map[net.Conn]struct{})}
	accepted := make(chan error, 1)
	go s.acceptLoop(ln, accepted)
	select {
	case err := <-accepted:
		return l.failed(err)
	case sig := <-l.stop:
		l.stopping(sig)
	}
	ln.Close()
	<-accepted
	if !s.waitConns(l.grace) {
		return l.graceExceeded("open echo connections")
	}
	return l.stopped()
}

// acceptLoop accepts until ln is closed; it reports nil if that was a
// shutdown, the error otherwise.
func (s *echoServer) acceptLoop(ln net.Listener, accepted chan<- error) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			accepted <- nil
			return
		}
		if err != nil {
			accepted <- err
			return
		}
		s.track(c)
		go s.echo(c)
	}
}

func (s *echoServer) track(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
}

func (s *echoServer) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.wg.Done()
}

// echo copies c's input back to it, line by line (lines longer than the
// buffer go back in pieces). When the client half-closes, what is left has
// been written, so echo half-closes too and then closes.
func (s *echoServer) echo(c net.Conn) {
	defer s.untrack(c)
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if _, werr := c.Write(chunk); werr != nil {
				return
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			break // io.EOF: the client is done sending; anything else: gone
		}
	}
	closeWrite(c)
}

// waitConns waits up to grace for every connection to end; if they do not,
// it closes them, waits for their goroutines, and returns false.
func (s *echoServer) waitConns(grace time.Duration) bool {
	done := make(chan struct{})
	go waitGroupDone(&s.wg, done)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	<-done
	return false
}

func waitGroupDone(wg *sync.WaitGroup, done chan<- struct{}) {
	wg.Wait()
	close(done)
}
