package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// options are the parsed command line.
type options struct {
	host       string
	port       int
	healthFile string
	grace      time.Duration
	startDelay time.Duration
	exitAfter  time.Duration
	echo       bool
	ignoreTerm bool
	spawnChild bool
	grandchild string
	failStart  bool
	proxyProto bool
	accessLog  bool
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == childArg {
		os.Exit(runChild())
	}
	if len(os.Args) == 3 && os.Args[1] == detachArg {
		os.Exit(runDetach(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == grandchildArg {
		os.Exit(runGrandchild(os.Args[2]))
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is demoapp's whole life; it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	started := time.Now()
	opts, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "demoapp: %v\n", err)
		return 2
	}
	l := lifecycle{pid: os.Getpid(), grace: opts.grace, stdout: stdout, stderr: stderr}
	if opts.failStart {
		return l.failed(errors.New("failing to start on purpose (--fail-start)"))
	}
	l.stop = stopSignals(opts.ignoreTerm)
	if err := l.armFailureModes(opts); err != nil {
		return l.failed(err)
	}
	if !l.startDelay(opts.startDelay) {
		return 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(opts.host, strconv.Itoa(opts.port)))
	if err != nil {
		return l.failed(err)
	}
	if opts.proxyProto {
		ln = requireProxyHeader(ln)
	}
	if opts.echo {
		l.listening(ln, "echo")
		return l.serveEcho(ln)
	}
	l.listening(ln, "http")
	id := identity{pid: l.pid, started: started, port: ln.Addr().(*net.TCPAddr).Port}
	h := newHandler(id, opts.healthFile)
	if opts.accessLog {
		h = accessLog(h, l.pid, stdout)
	}
	return l.serveHTTP(ln, h)
}

// armFailureModes sets up --exit-after and --spawn-child.
func (l lifecycle) armFailureModes(opts options) error {
	if opts.exitAfter > 0 {
		time.AfterFunc(opts.exitAfter, func() {
			l.failed(fmt.Errorf("crashing on purpose (--exit-after %s)", opts.exitAfter))
			os.Exit(1)
		})
	}
	if opts.spawnChild {
		child, err := spawnChild()
		if err != nil {
			return err
		}
		fmt.Fprintf(l.stdout, "demoapp pid=%d child pid=%d\n", l.pid, child)
	}
	if opts.grandchild != "" {
		if err := spawnGrandchild(opts.grandchild); err != nil {
			return err
		}
	}
	return nil
}

// parseFlags parses args; the port falls back to $GRACEVISOR_PORT, then $PORT.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demoapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.host, "host", "localhost", "host to listen on")
	fs.IntVar(&o.port, "port", -1, "port to listen on, 0 = any (default $GRACEVISOR_PORT, then $PORT)")
	fs.StringVar(&o.healthFile, "health-file", "", "while this file exists, GET /health answers 503")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "on SIGTERM/SIGINT, how long in-flight work may take")
	fs.DurationVar(&o.startDelay, "start-delay", 0, "sleep this long before listening (a slow start)")
	fs.DurationVar(&o.exitAfter, "exit-after", 0, "crash (exit 1) this long after the process started")
	fs.BoolVar(&o.echo, "echo", false, "be a line-echo TCP server instead of HTTP")
	fs.BoolVar(&o.ignoreTerm, "ignore-term", false, "ignore SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 (only SIGKILL ends it)")
	fs.BoolVar(&o.spawnChild, "spawn-child", false, "start a child process in the same process group that outlives demoapp")
	fs.StringVar(&o.grandchild, "grandchild", "", "double-fork a daemon (new session, outside our process group) that holds `HOST:PORT` and ignores SIGTERM")
	fs.BoolVar(&o.failStart, "fail-start", false, "print an error and exit 1 at once")
	fs.BoolVar(&o.proxyProto, "proxy-protocol", false, "every connection must start with a PROXY protocol header (v1 or v2); its client address is the one reported")
	fs.BoolVar(&o.accessLog, "access-log", false, "print one line per HTTP request on stdout, with the client address")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.port < 0 {
		p, err := portFromEnv(getenv)
		if err != nil {
			return o, err
		}
		o.port = p
	}
	if o.port > 65535 {
		return o, fmt.Errorf("port %d out of range 0-65535", o.port)
	}
	return o, nil
}

// portFromEnv reads $GRACEVISOR_PORT, else $PORT.
func portFromEnv(getenv func(string) string) (int, error) {
	for _, name := range []string{"GRACEVISOR_PORT", "PORT"} {
		v := getenv(name)
		if v == "" {
			continue
		}
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 {
			return 0, fmt.Errorf("$%s=%q is not a port number", name, v)
		}
		return p, nil
	}
	return 0, errors.New("no port: pass --port N or set $GRACEVISOR_PORT or $PORT")
}

// stopSignals returns the channel SIGTERM and SIGINT arrive on. With
// ignoreTerm every stop signal gracevisor can send (but SIGKILL) is ignored,
// and the channel never delivers.
func stopSignals(ignoreTerm bool) <-chan os.Signal {
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
			syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
		return nil
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	return ch
}

// startDelay sleeps d on purpose (it simulates slow start-up, it waits for
// no condition). It returns false if a stop signal came first.
func (l lifecycle) startDelay(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	fmt.Fprintf(l.stdout, "demoapp pid=%d starting in %s (--start-delay)\n", l.pid, d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stop:
		fmt.Fprintf(l.stdout, "demoapp pid=%d stopping before it started\n", l.pid)
		return false
	}
}
