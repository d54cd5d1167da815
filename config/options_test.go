package config

import (
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// TestDefaults checks every default on a config that sets nothing but one
// app's name and command.
func TestDefaults(t *testing.T) {
	c := mustLoad(t, "apps:\n"+app("demo", ""))
	logDir := "/var/log/gracevisor"
	rot := Rotation{MaxSizeMB: 500, MaxBackups: 0, MaxAgeDays: 0}
	alerts := Alerts{
		Events:         []string{"crash", "restart", "reload_ok", "reload_failed", "fatal", "recovered", "unhealthy", "oom_killed", "rolled_back", "degraded"},
		CommandTimeout: 30 * time.Second,
		Webhook:        Webhook{Timeout: 5 * time.Second, Retries: 3},
	}
	want := &Config{
		PortRange: PortRange{From: 10000, To: 11000},
		RPC:       RPC{Host: "localhost", Port: 9001, SocketMode: 0o600, MaxConnections: 256},
		Log:       LogFile{Path: logDir + "/gracevisor.log", Rotation: rot},
		Apps: []App{{
			Name: "demo", Command: "run --port={port}",
			InternalHost: "localhost", ExternalHost: "localhost", ExternalPort: 8080,
			StopSignal: syscall.SIGTERM, MaxRetries: 5,
			StartTimeout: 60 * time.Second, StopTimeout: 10 * time.Second,
			HealthcheckInterval: 5 * time.Second, HealthcheckTimeout: 2 * time.Second, HealthcheckFailures: 3,
			DrainTimeout: 30 * time.Second, ConnectTimeout: 10 * time.Second, ClientWriteTimeout: 60 * time.Second,
			Instances: 1, ReloadStrategy: "all-at-once",
			Stdout: LogFile{Path: logDir + "/app_demo.out", Rotation: rot},
			Stderr: LogFile{Path: logDir + "/app_demo.err", Rotation: rot},
			Source: c.File + ":2",
			Alerts: alerts,
			Proxy:  ProxyProtocol{HeaderTimeout: 5 * time.Second},
		}},
		Alerts: alerts,
	}
	want.Dir, want.File = c.Dir, c.File
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if c.RPC.Addr() != "localhost:9001" || c.Apps[0].ExternalAddr() != "localhost:8080" {
		t.Errorf("addresses: rpc %s, app %s", c.RPC.Addr(), c.Apps[0].ExternalAddr())
	}
	if c.App("demo") != &c.Apps[0] || c.App("nope") != nil {
		t.Errorf("Config.App lookup is wrong")
	}
}

// TestEmptyConfig: every option is optional, so an empty file is a daemon
// with no apps.
func TestEmptyConfig(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n", "---\n", "~\n", "apps: []\n", "apps:\n"} {
		c := mustLoad(t, text)
		if len(c.Apps) != 0 || c.RPC.Port != 9001 {
			t.Errorf("%q: got %+v", text, c)
		}
	}
}

// TestOptions sets each option once and checks where it lands.
func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		got  func(c *Config) any
		want any
	}{
		// Global options.
		{"port_range", "port_range: {from: 20000, to: 20100}\n", func(c *Config) any { return c.PortRange }, PortRange{20000, 20100}},
		{"port_range from only", "port_range: {from: 10500}\n", func(c *Config) any { return c.PortRange }, PortRange{10500, 11000}},
		{"rpc", "rpc: {host: 127.0.0.1, port: 9100}\n", func(c *Config) any { return c.RPC.Addr() }, "127.0.0.1:9100"},
		{"user", "user: {username: root}\n", func(c *Config) any { return c.User }, "root"},
		{"log_dir", "logger: {log_dir: /tmp/srv/logs}\n", func(c *Config) any { return c.Log.Path }, "/tmp/srv/logs/gracevisor.log"},
		{"log_file", "logger: {log_dir: /tmp/srv/logs, log_file: /tmp/g.log}\n", func(c *Config) any { return c.Log.Path }, "/tmp/g.log"},
		{"max_log_size", "logger: {max_log_size: 7}\n", func(c *Config) any { return c.Log.MaxSizeMB }, 7},
		{"max_logs_kept", "logger: {max_logs_kept: 4}\n", func(c *Config) any { return c.Log.MaxBackups }, 4},
		{"max_logs_kept -1", "logger: {max_logs_kept: -1}\n", func(c *Config) any { return c.Log.MaxBackups }, 0},
		{"max_logs_kept 0", "logger: {max_logs_kept: 0}\n", func(c *Config) any { return c.Log.MaxBackups }, 0},
		{"max_log_age", "logger: {max_log_age: 9}\n", func(c *Config) any { return c.Log.MaxAgeDays }, 9},
		{"max_log_age -1", "logger: {max_log_age: -1}\n", func(c *Config) any { return c.Log.MaxAgeDays }, 0},

		// App options.
		{"environment", "apps:\n  - {name: a, command: run, environment: [\"PORT={port}\", \"A=b=c\"]}\n",
			func(c *Config) any { return c.Apps[0].Environment }, []string{"PORT={port}", "A=b=c"}},
		{"directory", "apps:\n" + app("a", "    directory: /srv/a\n"), func(c *Config) any { return c.Apps[0].Directory }, "/srv/a"},
		{"healthcheck", "apps:\n" + app("a", "    healthcheck: /health?full=1\n"), func(c *Config) any { return c.Apps[0].Healthcheck }, "/health?full=1"},
		{"internal_host", "apps:\n" + app("a", "    internal_host: 127.0.0.2\n"), func(c *Config) any { return c.Apps[0].InternalHost }, "127.0.0.2"},
		{"external_host", "apps:\n" + app("a", "    external_host: 0.0.0.0\n"), func(c *Config) any { return c.Apps[0].ExternalAddr() }, "0.0.0.0:8080"},
		{"external_host empty", "apps:\n" + app("a", "    external_host: \"\"\n"), func(c *Config) any { return c.Apps[0].ExternalAddr() }, ":8080"},
		{"external_port", "apps:\n" + app("a", "    external_port: 8443\n"), func(c *Config) any { return c.Apps[0].ExternalPort }, 8443},
		{"stop_signal", "apps:\n" + app("a", "    stop_signal: QUIT\n"), func(c *Config) any { return c.Apps[0].StopSignal }, syscall.SIGQUIT},
		{"stop_signal SIG prefix lower case", "apps:\n" + app("a", "    stop_signal: sigusr2\n"), func(c *Config) any { return c.Apps[0].StopSignal }, syscall.SIGUSR2},
		{"stop_signal KILL", "apps:\n" + app("a", "    stop_signal: Kill\n"), func(c *Config) any { return c.Apps[0].StopSignal }, syscall.SIGKILL},
		{"max_retries", "apps:\n" + app("a", "    max_retries: 0\n"), func(c *Config) any { return c.Apps[0].MaxRetries }, 0},
		{"start_timeout seconds", "apps:\n" + app("a", "    start_timeout: 3\n"), func(c *Config) any { return c.Apps[0].StartTimeout }, 3 * time.Second},
		{"start_timeout 0 = forever", "apps:\n" + app("a", "    start_timeout: 0\n"), func(c *Config) any { return c.Apps[0].StartTimeout }, time.Duration(0)},
		{"stop_timeout duration", "apps:\n" + app("a", "    stop_timeout: 1500ms\n"), func(c *Config) any { return c.Apps[0].StopTimeout }, 1500 * time.Millisecond},
		{"stop_timeout 0 = forever", "apps:\n" + app("a", "    stop_timeout: 0\n"), func(c *Config) any { return c.Apps[0].StopTimeout }, time.Duration(0)},
		{"healthcheck_interval", "apps:\n" + app("a", "    healthcheck_interval: 2m\n"), func(c *Config) any { return c.Apps[0].HealthcheckInterval }, 2 * time.Minute},
		{"healthcheck_timeout", "apps:\n" + app("a", "    healthcheck_timeout: \"4\"\n"), func(c *Config) any { return c.Apps[0].HealthcheckTimeout }, 4 * time.Second},
		{"healthcheck_failures", "apps:\n" + app("a", "    healthcheck_failures: 1\n"), func(c *Config) any { return c.Apps[0].HealthcheckFailures }, 1},
		{"drain_timeout", "apps:\n" + app("a", "    drain_timeout: 45\n"), func(c *Config) any { return c.Apps[0].DrainTimeout }, 45 * time.Second},
		{"drain_timeout 0 = wait forever", "apps:\n" + app("a", "    drain_timeout: 0\n"), func(c *Config) any { return c.Apps[0].DrainTimeout }, time.Duration(0)},
		{"connect_timeout", "apps:\n" + app("a", "    connect_timeout: 250ms\n"), func(c *Config) any { return c.Apps[0].ConnectTimeout }, 250 * time.Millisecond},
		{"client_write_timeout", "apps:\n" + app("a", "    client_write_timeout: 5\n"), func(c *Config) any { return c.Apps[0].ClientWriteTimeout }, 5 * time.Second},
		{"client_write_timeout 0 = no limit", "apps:\n" + app("a", "    client_write_timeout: 0\n"), func(c *Config) any { return c.Apps[0].ClientWriteTimeout }, time.Duration(0)},
		{"max_connections", "apps:\n" + app("a", "    max_connections: 100\n"), func(c *Config) any { return c.Apps[0].MaxConnections }, 100},
		{"limits", "apps:\n" + app("a", "    memory_max: 256\n    memory_reload: 200\n    pids_max: 64\n    cpu_max: 0.5\n    nofile: 4096\n"),
			func(c *Config) any { return c.Apps[0].Limits }, Limits{MemoryMaxMB: 256, MemoryReloadMB: 200, PidsMax: 64, CPUMax: 0.5, Nofile: 4096}},
		{"cpu_max whole cores", "apps:\n" + app("a", "    cpu_max: 2\n"), func(c *Config) any { return c.Apps[0].Limits.CPUMax }, 2.0},
		{"no limits by default", "apps:\n" + app("a", ""), func(c *Config) any { return c.Apps[0].Limits }, Limits{}},
		{"app user", "apps:\n" + app("a", "    user: {username: root}\n"), func(c *Config) any { return c.Apps[0].User }, "root"},
		{"name with every allowed character", "apps:\n" + app("Az09_.-x", ""), func(c *Config) any { return c.Apps[0].Name }, "Az09_.-x"},

		// Written forms YAML allows.
		{"merge key", "apps:\n  - &base\n    name: a\n    command: run {port}\n    stop_signal: HUP\n  - <<: *base\n    name: b\n    external_port: 8081\n",
			func(c *Config) any { return c.Apps[1].StopSignal }, syscall.SIGHUP},
		{"merged key loses to written key", "apps:\n  - &a {name: a, command: \"run {port}\", stop_signal: HUP}\n  - <<: *a\n    name: b\n    external_port: 8081\n",
			func(c *Config) any { return c.Apps[1].Name + " " + c.Apps[1].StopSignal.String() }, "b hangup"},
		{"alias value", "apps:\n  - {name: a, command: &cmd \"run {port}\"}\n  - {name: b, command: *cmd, external_port: 8081}\n",
			func(c *Config) any { return c.Apps[1].Command }, "run {port}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.got(mustLoad(t, tc.yaml))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestRelativePathsUseWorkingDirectory: relative paths resolve against the
// working directory, not the config directory (as the seed says).
func TestRelativePathsUseWorkingDirectory(t *testing.T) {
	cwd := inTempDir(t, map[string]string{
		"etc/" + FileName: "logger: {log_dir: logs, log_file: own.log}\napps_include: [apps]\napps:\n" +
			app("a", "    directory: srv/a\n    logger: {log_dir: alogs, stderr_log_file: a.err}\n"),
		"apps/b.yaml": "name: b\ncommand: run {port}\nexternal_port: 8081\nlogger: {log_file: b.log}\n",
	})
	c, err := Load("etc")
	if err != nil {
		t.Fatal(err)
	}
	j := func(p string) string { return filepath.Join(cwd, p) }
	got := []string{c.Dir, c.File, c.Log.Path, c.AppsInclude[0], c.Apps[0].Directory,
		c.Apps[0].Stdout.Path, c.Apps[0].Stderr.Path, c.Apps[1].Stdout.Path, c.Apps[1].Stderr.Path}
	want := []string{j("etc"), j("etc/gracevisor.yaml"), j("own.log"), j("apps"), j("srv/a"),
		j("alogs/app_a.out"), j("a.err"), j("b.log"), j("b.log")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths:\n got %q\nwant %q", got, want)
	}
}
