//go:build linux

package e2e

import (
	"context"
	"github.com/gracevisor/gracevisor/internal/testutil"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The recipe tests run real servers from Debian's packages behind a real
// gracevisord, with their real clients, under reloads, and log the error
// counts docs/recipes.md quotes. Each test skips when its server is not
// installed, except with CI=true (.ci/run installs them).

// recipeReloads is how many reloads each load phase of a recipe sees.
const recipeReloads = 5

// recipeDrain is the recipes' drain_timeout: short, so that connections a
// client keeps open (keep-alive, pools) meet the old instance's stop within
// the test.
const recipeDrain = 2 * time.Second

// nginxTemplate is the recipe's nginx.conf.in; DIR is the test's folder.
const nginxTemplate = `daemon off;
worker_processes 1;
pid DIR/run/nginx-{port}.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location = /health { return 200 "ok\n"; }
        location / { return 200 "hello from nginx on port {port}\n"; }
    }
}
`

// TestRecipeNginx: nginx reads its port from a file rendered by templates;
// QUIT stops it gracefully (keep-alive connections are closed between
// requests), so wrk sees no error, with keep-alive or without.
func TestRecipeNginx(t *testing.T) {
	e, a, wrk := startNginxRecipe(t, "drain_timeout: 2")

	keep := wrkDuringReloads(e, wrk, a, recipeReloads, recipeDrain, false)
	t.Logf("nginx, wrk keep-alive (8 connections), %d reloads: %v", recipeReloads, keep)
	short := wrkDuringReloads(e, wrk, a, recipeReloads, recipeDrain, true)
	t.Logf("nginx, wrk Connection: close, %d reloads: %v", recipeReloads, short)
	if keep.requests == 0 || short.requests == 0 {
		t.Fatalf("no load got through: keep-alive %v; short %v", keep, short)
	}
	if keep.errors() != 0 || short.errors() != 0 {
		t.Errorf("errors under reloads: keep-alive %v; short %v", keep, short)
	}
	e.oneInstanceLeft(a.name)
}

// TestRecipeNginxEarlyStop: with early_stop_signal and the default
// drain_timeout (30 s), nginx gets QUIT at each flip and closes its idle
// keep-alive connections at once, so no old instance lingers. wrk does not
// retry a request that races such a close (browsers and HTTP client
// libraries retry an idempotent one), so it may count one error per
// connection per reload; never more.
func TestRecipeNginxEarlyStop(t *testing.T) {
	e, a, wrk := startNginxRecipe(t, "early_stop_signal: true\ndrain_timeout: 30")

	const reloads = 15
	keep := wrkDuringReloads(e, wrk, a, reloads, 0, false)
	t.Logf("nginx, early_stop_signal, wrk keep-alive (8 connections), %d reloads: %v", reloads, keep)
	if keep.requests == 0 || keep.errors() > reloads*8 || keep.non2xx != 0 {
		t.Errorf("keep-alive under reloads with early_stop_signal: %v; want at most one read error per connection per reload", keep)
	}
	if !waitForInstances(e, a.name, 1, 2*time.Second) { // drain_timeout is 30 s: early QUIT did this
		t.Errorf("old instances still running 2 s after the load: %+v", e.status()[a.name].Instances)
	}
}

// startNginxRecipe runs the nginx recipe (its port from a template, QUIT
// as its graceful stop) with extra app keys, and returns the env, the app
// and wrk's path.
func startNginxRecipe(t *testing.T, extra string) (*env, app, string) {
	t.Helper()
	bins := need(t, "nginx", "wrk")
	nginx, wrk := bins[0], bins[1]
	e := newEnv(t)
	if err := os.MkdirAll(filepath.Join(e.dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeFile("nginx.conf.in", strings.ReplaceAll(nginxTemplate, "DIR", e.dir))
	a := e.recipeApp("web", strings.ReplaceAll(`command: NGINX -e stderr -p DIR/run/ -c DIR/run/nginx-{port}.conf
healthcheck: /health
stop_signal: QUIT
`+extra+`
templates:
  - src: DIR/nginx.conf.in
    dst: DIR/run/nginx-{port}.conf`, "DIR", e.dir))
	a.extra = strings.ReplaceAll(a.extra, "NGINX", nginx)
	e.startRecipe(a)
	return e, a, wrk
}

// oneInstanceLeft fails unless every old instance of app has exited.
func (e *env) oneInstanceLeft(name string) {
	e.t.Helper()
	if !waitForInstances(e, name, 1, 5*time.Second) {
		e.t.Errorf("%s: old instances still running: %+v", name, e.status()[name].Instances)
	}
}

func waitForInstances(e *env, name string, n int, d time.Duration) bool {
	return testutil.WaitFor(d, func() bool { return len(e.status()[name].Instances) == n })
}

// TestRecipeRedis: redis-server takes its port on the command line; a
// reload starts an empty server (no persistence), short connections see no
// error, and a pooled client sees its connections to the old instance
// closed when drain_timeout ends.
func TestRecipeRedis(t *testing.T) {
	bins := need(t, "redis-server", "redis-benchmark", "redis-cli")
	server, bench, cli := bins[0], bins[1], bins[2]
	e := newEnv(t)
	a := e.recipeApp("cache", "command: "+server+" --port {port} --bind 127.0.0.1 --save '' --appendonly no\n"+
		"stop_signal: TERM\ndrain_timeout: 2")
	e.startRecipe(a)
	port := strconv.Itoa(portOf(t, a.addr))
	redis := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %q: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	if got := redis("set", "k", "v"); got != "OK" {
		t.Fatalf("set k v: %q", got)
	}
	e.mustCtl(0, "reload", a.name)
	got := redis("get", "k")
	t.Logf("redis: set k v; reload; get k → %q", got)
	if got != "" {
		t.Errorf("get k after a reload: %q; a reload starts an empty redis-server", got)
	}

	const n = 2000
	benchArgs := func(keepAlive string) []string {
		return []string{bench, "-h", "127.0.0.1", "-p", port, "-k", keepAlive, "-c", "8", "-n", strconv.Itoa(n), "-t", "set,get", "-q"}
	}
	short := loadDuringReloads(e, a.name, recipeReloads, 500*time.Millisecond, time.Second, func(ctx context.Context) runsResult {
		return runLoop(ctx, 2*n, benchArgs("0")...)
	})
	t.Logf("redis, redis-benchmark -k 0 (a connection per request), %d reloads: %v", recipeReloads, short)
	pooled := loadDuringReloads(e, a.name, recipeReloads, 500*time.Millisecond, recipeDrain+time.Second, func(ctx context.Context) runsResult {
		// One test long enough that its 8 connections live through every reload.
		return runForever(ctx, bench, "-h", "127.0.0.1", "-p", port, "-k", "1", "-c", "8", "-n", "100000000", "-t", "get", "-q")
	})
	t.Logf("redis, redis-benchmark -k 1 (8 kept connections), %d reloads, drain_timeout 2: %v", recipeReloads, pooled)
	if short.requests == 0 || short.failed != 0 {
		t.Errorf("redis-benchmark -k 0 under reloads: %v; want no failed run", short)
	}
	e.oneInstanceLeft(a.name)
}

// TestRecipeMemcached: memcached takes its port on the command line; a
// reload starts an empty cache; a client with a connection per operation
// sees no error, a pool sees its connections to the old instance closed
// when drain_timeout ends.
func TestRecipeMemcached(t *testing.T) {
	memcached := need(t, "memcached")[0]
	e := newEnv(t)
	// -u: memcached refuses to run as root without it (and ignores it otherwise).
	a := e.recipeApp("sessions", "command: "+memcached+" -l 127.0.0.1 -p {port} -U 0 -u nobody\n"+
		"stop_signal: TERM\ndrain_timeout: 2")
	e.startRecipe(a)

	m, err := dialMC(a.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.setGet("k", "v"); err != nil {
		t.Fatal(err)
	}
	m.c.Close()
	e.mustCtl(0, "reload", a.name)
	if m, err = dialMC(a.addr); err != nil {
		t.Fatal(err)
	}
	got, err := m.get("k")
	m.c.Close()
	t.Logf("memcached: set k v; reload; get k → %q (%v)", got, err)
	if err != nil || got != "" {
		t.Errorf("get k after a reload: %q, %v; a reload starts an empty memcached", got, err)
	}

	short := loadDuringReloads(e, a.name, recipeReloads, 500*time.Millisecond, time.Second, func(ctx context.Context) opsResult {
		return mcLoad(ctx, a.addr, 4, true)
	})
	t.Logf("memcached, 4 clients, a connection per set+get, %d reloads: %v", recipeReloads, short)
	pooled := loadDuringReloads(e, a.name, recipeReloads, 500*time.Millisecond, recipeDrain+time.Second, func(ctx context.Context) opsResult {
		return mcLoad(ctx, a.addr, 8, false)
	})
	t.Logf("memcached, a pool of 8 connections, %d reloads, drain_timeout 2: %v", recipeReloads, pooled)
	if short.ops == 0 || short.errs != 0 || pooled.ops == 0 {
		t.Errorf("memcached under reloads: short %v; pool %v; want no error on short connections", short, pooled)
	}
	e.oneInstanceLeft(a.name)
}

// nodeServer is the recipe's server.js: the port is its argument. On
// SIGTERM it answers every further request with "Connection: close", so a
// keep-alive client is let go at a request boundary, and a second later it
// closes what is still idle and exits once requests in flight are done.
// (Closing idle connections at once, with server.close() alone, races with
// a client that sends its next request at that moment: wrk saw 8 read
// errors in 5 reloads.)
const nodeServer = `const http = require('http');
let stopping = false;
const server = http.createServer((req, res) => {
  if (stopping) res.setHeader('Connection', 'close');
  res.end(req.url === '/health' ? 'ok\n' : 'hello from node, pid ' + process.pid + '\n');
});
server.listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => {
  stopping = true;
  setTimeout(() => server.close(() => process.exit(0)), 1000);
});
`

// TestRecipeNode: a Node.js http server that closes itself on SIGTERM,
// under wrk with keep-alive and with a connection per request.
func TestRecipeNode(t *testing.T) {
	bins := need(t, "node", "wrk")
	node, wrk := bins[0], bins[1]
	e := newEnv(t)
	e.writeFile("server.js", nodeServer)
	a := e.recipeApp("api", "command: "+node+" "+filepath.Join(e.dir, "server.js")+" {port}\n"+
		"healthcheck: /health\nstop_signal: TERM\ndrain_timeout: 2")
	e.startRecipe(a)

	keep := wrkDuringReloads(e, wrk, a, recipeReloads, recipeDrain, false)
	t.Logf("node, wrk keep-alive (8 connections), %d reloads: %v", recipeReloads, keep)
	short := wrkDuringReloads(e, wrk, a, recipeReloads, recipeDrain, true)
	t.Logf("node, wrk Connection: close, %d reloads: %v", recipeReloads, short)
	if keep.requests == 0 || short.requests == 0 || keep.errors() != 0 || short.errors() != 0 {
		t.Errorf("node under reloads: keep-alive %v; short %v; want no error", keep, short)
	}
	e.oneInstanceLeft(a.name)
}

// wsgiApp is the recipe's app.py.
const wsgiApp = `import os

def app(environ, start_response):
    body = b"ok\n" if environ["PATH_INFO"] == "/health" else b"hello from gunicorn, pid %d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// TestRecipeGunicorn: a WSGI app under gunicorn (sync workers, which
// close every connection after its response); TERM is gunicorn's graceful
// stop.
func TestRecipeGunicorn(t *testing.T) {
	bins := need(t, "gunicorn", "wrk")
	gunicorn, wrk := bins[0], bins[1]
	e := newEnv(t)
	e.writeFile("app.py", wsgiApp)
	a := e.recipeApp("py", "command: "+gunicorn+" --bind 127.0.0.1:{port} --workers 2 --graceful-timeout 5 --chdir "+e.dir+" app:app\n"+
		"healthcheck: /health\nstop_signal: TERM\nstop_timeout: 10\ndrain_timeout: 2")
	e.startRecipe(a)

	short := wrkDuringReloads(e, wrk, a, recipeReloads, recipeDrain, true)
	t.Logf("gunicorn, wrk Connection: close, %d reloads: %v", recipeReloads, short)
	if short.requests == 0 || short.errors() != 0 {
		t.Errorf("gunicorn under reloads: %v; want no error", short)
	}
	e.oneInstanceLeft(a.name)
}

// pgbouncerTemplate is the recipe's pgbouncer.ini.in; PGPORT and DIR are
// filled in by the test.
const pgbouncerTemplate = `[databases]
postgres = host=127.0.0.1 port=PGPORT dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = DIR/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 8
`

// TestRecipePgbouncer: pgbouncer in front of a real PostgreSQL, its port
// in a file rendered by templates; pgbench with a new connection per
// transaction through gracevisord while pgbouncer reloads.
func TestRecipePgbouncer(t *testing.T) {
	bins := need(t, "pgbouncer", "pgbench", "initdb", "postgres", "pg_isready")
	pgbouncer, pgbench := bins[0], bins[1]
	dir, err := os.MkdirTemp("", "gracevisor-recipe-pg-") // not t.TempDir: postgres must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pg := startPostgres(t, bins[2], bins[3], bins[4], dir)
	pgPort := strconv.Itoa(pg.port)
	if out, err := exec.Command(pgbench, "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", pgPort, "-U", "postgres", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}

	for name, text := range map[string]string{
		"userlist.txt":     `"postgres" ""` + "\n",
		"pgbouncer.ini.in": strings.NewReplacer("PGPORT", pgPort, "DIR", dir).Replace(pgbouncerTemplate),
		"run/.keep":        "",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	yaml := strings.ReplaceAll(`command: PGBOUNCER DIR/run/pgbouncer-{port}.ini
directory: DIR
stop_signal: INT
drain_timeout: 2
templates:
  - src: DIR/pgbouncer.ini.in
    dst: DIR/run/pgbouncer-{port}.ini`, "DIR", dir)
	yaml = strings.ReplaceAll(yaml, "PGBOUNCER", pgbouncer)
	if pg.user != "" {
		yaml += "\nuser: {username: " + pg.user + "}" // pgbouncer refuses to run as root
	}
	a := e.recipeApp("pgbouncer", yaml)
	e.startRecipe(a)

	r := timedDuringReloads(e, a.name, recipeReloads, recipeDrain, func(d time.Duration) (pgbenchResult, error) {
		return runPgbench(pgbench, d, "-C", "-S", "-n", "-c", "4", "-j", "2", "-h", "127.0.0.1", "-p", strconv.Itoa(portOf(t, a.addr)), "-U", "postgres", "postgres")
	})
	t.Logf("pgbouncer, pgbench -C -S (a connection per transaction, 4 clients), %d reloads: %v", recipeReloads, r)
	if r.processed == 0 || r.failed != 0 || r.aborted != 0 {
		t.Errorf("pgbench through gracevisord while pgbouncer reloads: %v\n%s", r, r.output)
	}
	e.oneInstanceLeft(a.name)
}
