//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is one way to reach the backends: directly or through one proxy.
type target struct {
	name string
	demo string // HTTP backend (demoapp)
	echo string // line-echo backend (demoapp --echo), for idle connections
	bulk string // iperf3 server
	// redis is redis-server, when installed (see redis.go); empty otherwise.
	redis string
	cmd   *exec.Cmd
	pid   int // the proxy's pid when it is not cmd's: gracevisord after an upgrade
}

// pids lists the processes whose CPU and memory count as the proxy's: the proxy
// itself and, for nginx, its workers. Backends are never included.
func (t *target) pids() []int {
	if t.cmd == nil || t.cmd.Process == nil {
		return nil
	}
	pid := t.cmd.Process.Pid
	if t.pid != 0 {
		pid = t.pid
	}
	if t.name == "nginx" {
		return append([]int{pid}, childrenOf(pid)...)
	}
	return []int{pid}
}

// stack is every process of one benchmark run.
type stack struct {
	dir     string
	bin     string
	rpc     string
	fdLimit int       // RLIMIT_NOFILE of every process of the stack
	targets []*target // direct, gracevisord, haproxy, nginx
}

func (s *stack) target(name string) *target {
	for _, t := range s.targets {
		if t.name == name {
			return t
		}
	}
	return nil
}

func (s *stack) ctl(ctx context.Context, args ...string) ([]byte, error) {
	args = append([]string{"--rpc", s.rpc}, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(s.bin, "gracevisorctl"), args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("gracevisorctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

func startStack(ctx context.Context, bin string, fdLimit int) (*stack, error) {
	dir, err := os.MkdirTemp("", "gracevisor-bench-")
	if err != nil {
		return nil, err
	}
	bin, err = filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, bin: bin, rpc: freeAddr(), fdLimit: fdLimit}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	gv, err := s.startGracevisor(ctx)
	if err != nil {
		return nil, err
	}
	direct, err := s.backendAddrs(ctx)
	if err != nil {
		return nil, err
	}
	s.targets = append(s.targets, direct, gv)
	for _, start := range []func(*target) (*target, error){s.startHAProxy, s.startNginx} {
		t, err := start(direct)
		if err != nil {
			return nil, err
		}
		s.targets = append(s.targets, t)
	}
	for _, t := range s.targets {
		if err := waitDial(ctx, t.demo); err != nil {
			return nil, fmt.Errorf("%s: %w; its output ends: %s", t.name, err, s.logTail(t))
		}
	}
	ok = true
	return s, nil
}

const gracevisorConf = `port_range: {from: 23000, to: 23300}
rpc: {host: 127.0.0.1, port: %s}
logger: {log_dir: %s}
apps:
  - {name: demo, command: "%s/demoapp --host 127.0.0.1 --port={port}", healthcheck: /health,
     internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %s}
  - {name: echo, command: "%s/demoapp --echo --host 127.0.0.1 --port={port}",
     internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %s}
  - {name: bulk, command: "iperf3 -s -B 127.0.0.1 -p {port}",
     internal_host: 127.0.0.1, external_host: 127.0.0.1, external_port: %s}
`

func (s *stack) startGracevisor(ctx context.Context) (*target, error) {
	t := &target{name: "gracevisord", demo: freeAddr(), echo: freeAddr(), bulk: freeAddr()}
	conf := fmt.Sprintf(gracevisorConf, port(s.rpc), filepath.Join(s.dir, "log"),
		s.bin, port(t.demo), s.bin, port(t.echo), port(t.bulk))
	if haveRedis() {
		t.redis = freeAddr()
		conf += fmt.Sprintf(redisApp, port(t.redis))
	}
	if err := os.WriteFile(filepath.Join(s.dir, "gracevisor.yaml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	t.cmd = s.command(filepath.Join(s.bin, "gracevisord"), "--conf", s.dir)
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitDial(ctx, s.rpc); err != nil {
		return nil, fmt.Errorf("gracevisord: %w; its output ends: %s", err, s.logTail(t))
	}
	return t, nil
}

// backendAddrs asks gracevisord where its apps' serving instances listen.
func (s *stack) backendAddrs(ctx context.Context) (*target, error) {
	out, err := s.ctl(ctx, "status", "--json")
	if err != nil {
		return nil, err
	}
	var apps []struct {
		Name      string
		Instances []struct{ Port int }
	}
	if err := json.Unmarshal(out, &apps); err != nil {
		return nil, fmt.Errorf("status --json: %w", err)
	}
	t := &target{name: "direct"}
	for _, a := range apps {
		if len(a.Instances) == 0 {
			return nil, fmt.Errorf("app %s has no instance", a.Name)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Instances[0].Port))
		switch a.Name {
		case "demo":
			t.demo = addr
		case "echo":
			t.echo = addr
		case "bulk":
			t.bulk = addr
		case "redis":
			t.redis = addr
		}
	}
	return t, nil
}

// HAProxy refuses to start if maxconn needs more descriptors than the limit
// allows (2 per connection, plus maxconn/4 splice pipes of 2), so maxconn is
// derived from it.
const haproxyConf = `global
    maxconn %d
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    maxconn %d
    option splice-request
    option splice-response
listen demo
    bind %s
    server s %s
listen echo
    bind %s
    server s %s
listen bulk
    bind %s
    server s %s
`

func (s *stack) startHAProxy(direct *target) (*target, error) {
	t := &target{name: "haproxy", demo: freeAddr(), echo: freeAddr(), bulk: freeAddr()}
	conf := filepath.Join(s.dir, "haproxy.cfg")
	maxconn := (s.fdLimit - 200) * 2 / 5 // maxsock = 2.5 × maxconn + a few
	text := fmt.Sprintf(haproxyConf, maxconn, maxconn, t.demo, direct.demo, t.echo, direct.echo, t.bulk, direct.bulk)
	if direct.redis != "" {
		t.redis = freeAddr()
		text += fmt.Sprintf("listen redis\n    bind %s\n    server s %s\n", t.redis, direct.redis)
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	t.cmd = s.command("haproxy", "-db", "-f", conf)
	return t, t.cmd.Start()
}

const nginxConf = `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes auto;
worker_rlimit_nofile %[8]d;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections %[9]d; }
stream {
    server { listen %[2]s; proxy_pass %[3]s; }
    server { listen %[4]s; proxy_pass %[5]s; proxy_timeout 1h; }
    server { listen %[6]s; proxy_pass %[7]s; }
%[10]s}
`

func (s *stack) startNginx(direct *target) (*target, error) {
	t := &target{name: "nginx", demo: freeAddr(), echo: freeAddr(), bulk: freeAddr()}
	conf := filepath.Join(s.dir, "nginx.conf")
	var redis string
	if direct.redis != "" {
		t.redis = freeAddr()
		redis = fmt.Sprintf("    server { listen %s; proxy_pass %s; proxy_timeout 1h; }\n", t.redis, direct.redis)
	}
	text := fmt.Sprintf(nginxConf, s.dir, t.demo, direct.demo, t.echo, direct.echo, t.bulk, direct.bulk,
		s.fdLimit, s.fdLimit/2, redis)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	t.cmd = s.command("nginx", "-c", conf, "-p", s.dir, "-g", "daemon off;")
	return t, t.cmd.Start()
}

// command starts a child in its own process group, logging into the run's folder.
func (s *stack) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	log, _ := os.Create(filepath.Join(s.dir, filepath.Base(name)+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// logTail is the last line or so of a target's output (the run's folder is
// removed on exit, so errors carry it).
func (s *stack) logTail(t *target) string {
	if t.cmd == nil {
		return "(no process)"
	}
	data, _ := os.ReadFile(filepath.Join(s.dir, filepath.Base(t.cmd.Path)+".log"))
	text := strings.TrimSpace(string(data))
	if i := strings.LastIndexByte(text, '\n'); i >= 0 && len(text)-i < 80 {
		text = text[max(0, strings.LastIndexByte(text[:i], '\n')+1):]
	} else if i >= 0 {
		text = text[i+1:]
	}
	return strings.ReplaceAll(text, "\n", " | ")
}

func (s *stack) stop() {
	for i := len(s.targets) - 1; i >= 0; i-- {
		t := s.targets[i]
		if t.cmd == nil || t.cmd.Process == nil {
			continue
		}
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = t.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	_ = os.RemoveAll(s.dir)
}

func (s *stack) versions() map[string]string {
	v := map[string]string{}
	for name, args := range map[string][]string{
		"haproxy": {"-v"}, "nginx": {"-v"}, "redis-server": {"--version"}, "wrk": {"--version"}, "iperf3": {"--version"},
		filepath.Join(s.bin, "gracevisord"): {"--version"},
	} {
		out, _ := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v[filepath.Base(name)] = line
	}
	return v
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// waitDial polls addr until it accepts a TCP connection, for at most 30 s.
func waitDial(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not reachable: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// daemonPID asks the running gracevisord for its pid: after an upgrade it
// is no longer the process the stack started.
func (s *stack) daemonPID(ctx context.Context) (int, error) {
	out, err := s.ctl(ctx, "version", "--json")
	if err != nil {
		return 0, fmt.Errorf("gracevisorctl version: %w: %s", err, out)
	}
	var v struct {
		Daemon struct {
			PID int `json:"pid"`
		} `json:"daemon"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.Daemon.PID == 0 {
		return 0, fmt.Errorf("gracevisorctl version --json: %q: %v", out, err)
	}
	return v.Daemon.PID, nil
}
