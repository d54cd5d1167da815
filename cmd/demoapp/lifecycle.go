package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// lifecycle is what both server modes share: who we are, how to learn that
// we must stop, how long stopping may take, and where to say so.
type lifecycle struct {
	pid    int
	grace  time.Duration
	stop   <-chan os.Signal // nil with --ignore-term: never fires
	stdout io.Writer
	stderr io.Writer
}

func (l lifecycle) listening(ln net.Listener, mode string) {
	fmt.Fprintf(l.stdout, "demoapp pid=%d listening on %s (%s)\n", l.pid, ln.Addr(), mode)
}

func (l lifecycle) stopping(sig os.Signal) {
	fmt.Fprintf(l.stdout, "demoapp pid=%d stopping (%v)\n", l.pid, sig)
}

func (l lifecycle) stopped() int {
	fmt.Fprintf(l.stdout, "demoapp pid=%d stopped\n", l.pid)
	return 0
}

func (l lifecycle) graceExceeded(what string) int {
	fmt.Fprintf(l.stderr, "demoapp pid=%d: grace %s exceeded, closed %s\n", l.pid, l.grace, what)
	return 1
}

func (l lifecycle) failed(err error) int {
	fmt.Fprintf(l.stderr, "demoapp pid=%d: %v\n", l.pid, err)
	return 1
}
