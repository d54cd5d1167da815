package l4proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// The test binary re-executes itself (testutil.ChildCommand) in mode proxy,
// server or raise (or one a test file adds to childModes) to run a proxy,
// a benchmark server or a limit check in a child process: lowering RLIMIT_NOFILE there leaves this process alone,
// and benchmarks get the process layout of production (client, proxy and
// app apart).
const (
	childBackendEnv = "L4PROXY_TEST_BACKEND" // proxy: backend address
	childNofileEnv  = "L4PROXY_TEST_NOFILE"  // proxy: RLIMIT_NOFILE, if set
	childHandlerEnv = "L4PROXY_TEST_HANDLER" // server: a name in childHandlers
)

// childHandlers are the connection handlers a "server" child can run.
var childHandlers = map[string]func(net.Conn){
	"sink":           sink,
	"answerAndClose": answerAndClose,
	"echoRaw":        echoRaw,
}

// childModes are the modes childMain runs; test files may add theirs.
var childModes = map[string]func() error{
	"proxy":  childProxy,
	"server": childServer,
	"raise":  childRaise,
}

func childMain(mode string) int {
	err := fmt.Errorf("unknown child mode %q", mode)
	if run := childModes[mode]; run != nil {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// childProxy serves a proxy (optionally under a descriptor limit) until
// stdin closes, then prints its stats.
func childProxy() error {
	p := &Proxy{ConnectTimeout: time.Second}
	ln, err := p.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		return err
	}
	if s := os.Getenv(childNofileEnv); s != "" {
		limit, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		var lim syscall.Rlimit
		setRlim(&lim.Cur, limit)
		setRlim(&lim.Max, limit)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("set limit: %w", err)
		}
	}
	p.Switch(NewBackend(os.Getenv(childBackendEnv)))
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	st := p.Stats()
	fmt.Printf("stats %d %d %d\n", st.Active, st.Accepted, st.AcceptErrors)
	return nil
}

// childServer runs a benchmark server until stdin closes.
func childServer() error {
	handle := childHandlers[os.Getenv(childHandlerEnv)]
	if handle == nil {
		return fmt.Errorf("unknown handler %q", os.Getenv(childHandlerEnv))
	}
	srv := newServer(&exitOnFail{}, handle)
	fmt.Printf("listening %s\n", srv.addr())
	io.Copy(io.Discard, os.Stdin)
	srv.close()
	fmt.Printf("stats 0 %d 0\n", srv.accepted.Load())
	return nil
}

// exitOnFail is the testing.TB a child's helpers run with.
type exitOnFail struct{ testing.TB }

func (exitOnFail) Helper()                      {}
func (exitOnFail) Cleanup(func())               {}
func (exitOnFail) Fatalf(f string, args ...any) { fmt.Fprintf(os.Stderr, f+"\n", args...); os.Exit(1) }

// childRaise lowers the soft limit and checks RaiseFileLimit restores it.
func childRaise() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	hard := lim.Max
	lim.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	got, err := RaiseFileLimit()
	if err != nil {
		return err
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if got != uint64(hard) || lim.Cur != hard {
		return fmt.Errorf("RaiseFileLimit = %d, soft now %d, want hard limit %d", got, lim.Cur, hard)
	}
	return nil
}

// child is a re-executed test binary serving on addr.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stdin  io.Closer
	out    *bufio.Scanner
	stderr bytes.Buffer
}

// startChild runs the test binary in mode with env added and waits for the
// address it listens on. It is killed at cleanup unless stopped.
func startChild(t testing.TB, mode string, env ...string) *child {
	t.Helper()
	c := &child{cmd: testutil.ChildCommand(t, mode)}
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stderr = &c.stderr
	stdin, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.stdin, c.out = stdin, bufio.NewScanner(stdout)
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	if !c.out.Scan() {
		t.Fatalf("child printed nothing: %s", c.stderr.String())
	}
	c.addr = strings.TrimPrefix(c.out.Text(), "listening ")
	return c
}

// startProxyChild runs a proxy to backend in a child process; nofile, if
// not empty, is the child's RLIMIT_NOFILE; env is added to its environment.
func startProxyChild(t testing.TB, backend, nofile string, env ...string) *child {
	t.Helper()
	return startChild(t, "proxy", append(env, childBackendEnv+"="+backend, childNofileEnv+"="+nofile)...)
}

// stop ends the child and returns the stats it printed: for a proxy its
// open and accepted connections and accept errors.
func (c *child) stop() (active, accepted, acceptErrs int, err error) {
	c.stdin.Close()
	if !c.out.Scan() {
		return 0, 0, 0, fmt.Errorf("no stats from child: %s", c.stderr.String())
	}
	if _, err := fmt.Sscanf(c.out.Text(), "stats %d %d %d", &active, &accepted, &acceptErrs); err != nil {
		return 0, 0, 0, fmt.Errorf("stats line %q: %w", c.out.Text(), err)
	}
	if err := c.cmd.Wait(); err != nil {
		return 0, 0, 0, fmt.Errorf("child: %w: %s", err, c.stderr.String())
	}
	return active, accepted, acceptErrs, nil
}

// setRlim sets one field of a syscall.Rlimit, whose type differs between
// systems.
func setRlim[T int64 | uint64](dst *T, v uint64) { *dst = T(v) }
