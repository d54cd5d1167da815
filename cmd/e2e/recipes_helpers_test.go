//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gracevisor/gracevisor/internal/testutil"
)

// This file holds what the recipe tests (recipes_test.go) share: finding a
// real server's binary, an app entry for it, reloads during load, and
// running and reading wrk.

// need returns the path of each program, in order. A missing one skips the
// test, except in CI (CI=true), where it fails it: .ci/run installs them.
func need(t *testing.T, names ...string) []string {
	t.Helper()
	var paths []string
	for _, name := range names {
		p, err := exec.LookPath(name)
		if err != nil { // Debian keeps PostgreSQL's server programs out of PATH
			if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(found) > 0 {
				p, err = found[len(found)-1], nil
			}
		}
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed, and CI=true: .ci/run must install it", name)
			}
			t.Skipf("%s is not installed (see .ci/run for the packages); skipping the recipe", name)
		}
		paths = append(paths, p)
	}
	return paths
}

// recipeApp is an app that runs a real server: yaml holds its keys (one per
// line, not indented), which replace the harness's demoapp defaults; it
// gets no healthcheck unless yaml sets one.
func (e *env) recipeApp(name, yaml string) app {
	a := e.newApp(name, "")
	a.extra = "healthcheck: \"\"\n" + yaml
	if strings.Contains(yaml, "\nhealthcheck:") || strings.HasPrefix(yaml, "healthcheck:") {
		a.extra = yaml
	}
	return a
}

// startRecipe writes the config with a, starts gracevisord and waits until
// the app is RUNNING.
func (e *env) startRecipe(a app) *daemon {
	e.t.Helper()
	e.writeConfig(a)
	d := e.start()
	deadline := time.Now().Add(20 * time.Second)
	for e.ctl("status", a.name).code != 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never got RUNNING: %v\n%s", a.name, e.ctl("status", a.name), d.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return d
}

// reloads reloads app n times, gap apart, each one required to succeed, and
// returns how many it did.
func (e *env) reloads(name string, n int, gap time.Duration) int {
	e.t.Helper()
	for i := range n {
		time.Sleep(gap)
		if r := e.ctl("reload", name); r.code != 0 {
			e.t.Fatalf("reload %d of %s: %v", i+1, name, r)
		}
	}
	return n
}

// loadDuringReloads runs load until reloads have been done and then settle
// longer (so that every old instance has drained and stopped under load),
// and returns what load returned. load must return once ctx is done.
func loadDuringReloads[T any](e *env, name string, n int, gap, settle time.Duration, load func(ctx context.Context) T) T {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out T
	var wg sync.WaitGroup
	wg.Add(1)
	go runLoad(&wg, ctx, load, &out)
	e.reloads(name, n, gap)
	time.Sleep(settle)
	cancel()
	wg.Wait()
	return out
}

func runLoad[T any](wg *sync.WaitGroup, ctx context.Context, load func(ctx context.Context) T, out *T) {
	defer wg.Done()
	*out = load(ctx)
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests int
	socket   int // connect + read + write + timeout errors
	non2xx   int
	detail   string // the "Socket errors" line, if any
}

func (r wrkResult) errors() int { return r.socket + r.non2xx }

func (r wrkResult) String() string {
	return fmt.Sprintf("%d requests, %d errors (socket %d%s, non-2xx %d)", r.requests, r.errors(), r.socket, r.detail, r.non2xx)
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk runs wrk against url for d with c connections; with short, every
// request asks for "Connection: close", so each one is a new connection.
func runWrk(wrk, url string, d time.Duration, c int, short bool) (wrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(c), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--timeout", "5s"}
	if short {
		args = append(args, "-H", "Connection: close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, append(args, url)...).CombinedOutput()
	var r wrkResult
	if err != nil {
		return r, fmt.Errorf("wrk %q: %w\n%s", args, err, out)
	}
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk output has no request count:\n%s", out)
	}
	r.requests, _ = strconv.Atoi(string(m[1]))
	if m := wrkSocket.FindSubmatch(out); m != nil {
		for _, n := range m[1:] {
			v, _ := strconv.Atoi(string(n))
			r.socket += v
		}
		r.detail = ": " + string(bytes.TrimPrefix(m[0], []byte("Socket errors: ")))
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	return r, nil
}

// wrkDuringReloads runs wrk (8 connections) through app's external
// address while it reloads n times.
func wrkDuringReloads(e *env, wrk string, a app, n int, drain time.Duration, short bool) wrkResult {
	e.t.Helper()
	return timedDuringReloads(e, a.name, n, drain, func(d time.Duration) (wrkResult, error) {
		return runWrk(wrk, "http://"+a.addr+"/", d, 8, short)
	})
}

// timedDuringReloads runs load, a client that runs for the duration it is
// given, while app reloads n times (after one more, timed, without load):
// from just before the first reload until the old instances of all of them
// have had drain_timeout (drain) and about a second more to stop.
func timedDuringReloads[T any](e *env, name string, n int, drain time.Duration, load func(d time.Duration) (T, error)) T {
	e.t.Helper()
	const gap = 500 * time.Millisecond
	start := time.Now()
	e.reloads(name, 1, 0)
	d := (time.Duration(n)*(gap+time.Since(start)) + drain + 1500*time.Millisecond).Round(time.Second)
	var r T
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, err = load(d)
	}()
	time.Sleep(300 * time.Millisecond) // the client is connected
	e.reloads(name, n, gap)
	wg.Wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// runsResult counts the runs of a client program that load did in a loop.
type runsResult struct {
	runs, failed, requests int
	lastErr                string // the last failed run's output, trimmed
}

func (r runsResult) String() string {
	s := fmt.Sprintf("%d runs (%d requests), %d failed", r.runs, r.requests, r.failed)
	if r.lastErr != "" {
		s += fmt.Sprintf(" (last: %q)", r.lastErr)
	}
	return s
}

// runLoop runs argv again and again until ctx is done, letting the run in
// flight finish; each run that exits 0 counts perRun requests.
func runLoop(ctx context.Context, perRun int, argv ...string) runsResult {
	var r runsResult
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(rctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		r.count(out, err)
		if err == nil {
			r.requests += perRun
		}
	}
	return r
}

// runForever runs argv, a client that runs until it is killed, until ctx
// is done, and starts it again each time it exits on its own (a failed
// run); the run killed at the end counts as a success.
func runForever(ctx context.Context, argv ...string) runsResult {
	var r runsResult
	for ctx.Err() == nil {
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if ctx.Err() != nil {
			err = nil
		} else if err == nil {
			err = errors.New("exited 0 before it was stopped")
		}
		r.count(out, err)
	}
	return r
}

func (r *runsResult) count(out []byte, err error) {
	r.runs++
	if err != nil {
		r.failed++
		r.lastErr = lastLine(out) + " (" + err.Error() + ")"
	}
}

// lastLine is the last non-empty line of out, with carriage-return
// progress lines reduced to their last part.
func lastLine(out []byte) string {
	lines := strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// mcConn is a memcached text-protocol connection.
type mcConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialMC(addr string) (*mcConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &mcConn{c: c, r: bufio.NewReader(c)}, nil
}

// setGet stores key=val, reads it back and checks it.
func (m *mcConn) setGet(key, val string) error {
	m.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(m.c, "set %s 0 0 %d\r\n%s\r\nget %s\r\n", key, len(val), val, key); err != nil {
		return err
	}
	want := []string{"STORED", fmt.Sprintf("VALUE %s 0 %d", key, len(val)), val, "END"}
	for _, w := range want {
		line, err := m.r.ReadString('\n')
		if err != nil {
			return err
		}
		if got := strings.TrimRight(line, "\r\n"); got != w {
			return fmt.Errorf("memcached said %q, want %q", got, w)
		}
	}
	return nil
}

// get returns key's value, or "" when memcached has none.
func (m *mcConn) get(key string) (string, error) {
	m.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(m.c, "get %s\r\n", key); err != nil {
		return "", err
	}
	var val string
	for {
		line, err := m.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		switch line = strings.TrimRight(line, "\r\n"); {
		case line == "END":
			return val, nil
		case strings.HasPrefix(line, "VALUE "):
		default:
			val = line
		}
	}
}

// opsResult counts a Go client's operations and errors.
type opsResult struct {
	ops, errs int
	lastErr   string
}

func (r opsResult) String() string {
	s := fmt.Sprintf("%d set+get+verify, %d errors", r.ops, r.errs)
	if r.lastErr != "" {
		s += fmt.Sprintf(" (last: %s)", r.lastErr)
	}
	return s
}

// mcLoad runs workers clients against addr until ctx is done. With short,
// each operation dials a new connection; otherwise each worker keeps one
// (a pool) and dials again after an error.
func mcLoad(ctx context.Context, addr string, workers int, short bool) opsResult {
	results := make([]opsResult, workers)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go mcWorker(ctx, &wg, addr, i, short, &results[i])
	}
	wg.Wait()
	var sum opsResult
	for _, r := range results {
		sum.ops += r.ops
		sum.errs += r.errs
		if r.lastErr != "" {
			sum.lastErr = r.lastErr
		}
	}
	return sum
}

func mcWorker(ctx context.Context, wg *sync.WaitGroup, addr string, id int, short bool, r *opsResult) {
	defer wg.Done()
	var m *mcConn
	defer func() {
		if m != nil {
			m.c.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		var err error
		if m == nil {
			m, err = dialMC(addr)
		}
		if err == nil {
			r.ops++
			err = m.setGet(fmt.Sprintf("w%d-%d", id, i), fmt.Sprintf("value %d of worker %d", i, id))
		}
		if err != nil {
			r.errs++
			r.lastErr = err.Error()
		}
		if (short || err != nil) && m != nil {
			m.c.Close()
			m = nil
		}
	}
}

// postgresServer is a PostgreSQL cluster the test made with initdb and
// runs on port, as the postgres user when the test runs as root (initdb
// and postgres refuse root).
type postgresServer struct {
	port int
	cred *syscall.Credential // nil: the test's own user
	user string              // the app user for servers that refuse root too ("" = none)
}

// startPostgres makes a cluster in a new folder under dir (which must be
// reachable by the postgres user) and starts postgres on a free port; it
// is stopped at cleanup.
func startPostgres(t *testing.T, initdb, postgres, pgIsReady, dir string) *postgresServer {
	t.Helper()
	pg := &postgresServer{port: portOf(t, testutil.FreeAddr(t))}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred, pg.user = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, "postgres"
		if err := os.Chown(data, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(initdb, "-D", data, "--auth", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	srv := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(pg.port), "-k", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50")
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &testutil.LockedBuffer{}
	srv.Stdout, srv.Stderr = out, out
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go waitProcess(srv, done)
	t.Cleanup(func() { stopPostgres(t, srv, done, out) })
	ready := func() bool {
		return exec.Command(pgIsReady, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port)).Run() == nil
	}
	if !testutil.WaitFor(20*time.Second, ready) {
		t.Fatalf("postgres never got ready:\n%s", out)
	}
	return pg
}

func waitProcess(cmd *exec.Cmd, done chan<- struct{}) {
	_ = cmd.Wait()
	close(done)
}

// stopPostgres asks for a fast shutdown (SIGINT), then kills the group.
func stopPostgres(t *testing.T, srv *exec.Cmd, done <-chan struct{}, out fmt.Stringer) {
	_ = srv.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		return
	case <-time.After(10 * time.Second):
	}
	t.Errorf("postgres ignored SIGINT for 10s; killing it:\n%s", out)
	_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
	<-done
}

// pgbenchResult is what pgbench reports.
type pgbenchResult struct {
	processed, failed, aborted int
	output                     string
}

func (r pgbenchResult) String() string {
	return fmt.Sprintf("%d transactions, %d failed, %d clients aborted", r.processed, r.failed, r.aborted)
}

var (
	pgbenchProcessed = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	pgbenchFailed    = regexp.MustCompile(`number of failed transactions: (\d+)`)
	pgbenchAborted   = regexp.MustCompile(`(?m)^.*client \d+ aborted.*$`)
)

// runPgbench runs pgbench with args for d; exit status 2 (some clients
// aborted) is a result, not an error.
func runPgbench(pgbench string, d time.Duration, args ...string) (pgbenchResult, error) {
	args = append([]string{"-T", strconv.Itoa(int(d.Seconds()))}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgbench, args...).CombinedOutput()
	r := pgbenchResult{output: string(out)}
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		return r, fmt.Errorf("pgbench %q: %w\n%s", args, err, out)
	}
	m := pgbenchProcessed.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("pgbench output has no transaction count:\n%s", out)
	}
	r.processed, _ = strconv.Atoi(string(m[1]))
	if m := pgbenchFailed.FindSubmatch(out); m != nil {
		r.failed, _ = strconv.Atoi(string(m[1]))
	}
	r.aborted = len(pgbenchAborted.FindAll(out, -1))
	return r, nil
}
