package config

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Config is a whole, valid, resolved configuration.
type Config struct {
	// Dir is the absolute config directory; File is Dir/gracevisor.yaml.
	Dir  string
	File string

	PortRange PortRange
	RPC       RPC
	// Log is the daemon's own log file and its rotation settings.
	Log LogFile
	// User is the global username apps inherit; "" means gracevisord's own user.
	User string
	// AppsInclude are the resolved (absolute) include paths.
	AppsInclude []string
	// Apps holds inline apps first, then included ones, in file order.
	Apps []App

	// Statsd is where metrics are pushed; off when Statsd.Address is "".
	Statsd Statsd
	// Alerts are the global alert hooks; each app has its own resolved copy.
	Alerts Alerts

	// ShutdownDelay: on SIGTERM, /healthz turns 503 at once and every
	// listener keeps accepting this long before anything stops, so a
	// balancer polling /healthz moves traffic away first. Default 0.
	ShutdownDelay time.Duration
}

// PortRange is the half-open range [From, To) of internal ports.
type PortRange struct {
	From, To int
}

// RPC is where the control API listens and who may use it.
type RPC struct {
	Host string // default "localhost"; an IPv6 address without brackets
	Port int    // default 9001; 0 = no TCP listener (then Socket is set)

	Socket      string      // unix socket path, absolute; "" = no socket
	SocketMode  os.FileMode // default 0600
	SocketOwner string      // "user" or "user:group"; "" = gracevisord's own user
	TokenFile   string      // absolute; "" = no token (only allowed on loopback)
	// MaxConnections caps the API's open connections per listener; default
	// 256. gracevisord lowers it further to keep descriptors for the proxies.
	MaxConnections int
	// TLS serves the TCP listener over TLS; required when Host is not
	// loopback. Zero: plain HTTP.
	TLS TLS
}

// TLS is a certificate and its key, both PEM files (absolute paths).
type TLS struct {
	CertFile string
	KeyFile  string
}

// On reports whether TLS is configured.
func (t TLS) On() bool { return t.CertFile != "" }

// TCP reports whether the control API listens on TCP.
func (r RPC) TCP() bool { return r.Port != 0 }

// Addr is host:port of the control API.
func (r RPC) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// Rotation holds lumberjack's settings in the config's units.
type Rotation struct {
	MaxSizeMB  int // megabytes before a file is rotated; default 500
	MaxBackups int // rotated files kept; 0 = all (config -1 and 0 both map here)
	MaxAgeDays int // days a rotated file is kept; 0 = forever (config -1 and 0)
}

// LogFile is one rotated log file.
type LogFile struct {
	Path string // absolute
	Rotation
}

// App is one supervised application, with every default and inherited value resolved.
type App struct {
	Name        string
	Command     string   // still holds {port}; procs substitutes it
	Environment []string // "K=V", still holding {port}
	Directory   string   // absolute, or "" for gracevisord's working directory
	Healthcheck string   // HTTP path, "" = readiness is a TCP connect

	InternalHost string // default "localhost"
	ExternalHost string // default "localhost"
	ExternalPort int    // default 8080

	StopSignal syscall.Signal // default SIGTERM
	MaxRetries int            // default 5

	StartTimeout time.Duration // default 60s; 0 = wait forever
	StopTimeout  time.Duration // default 10s; 0 = wait forever

	HealthcheckInterval time.Duration // default 5s
	HealthcheckTimeout  time.Duration // default 2s
	HealthcheckFailures int           // default 3
	DrainTimeout        time.Duration // default 30s; 0 = wait for the last connection
	ConnectTimeout      time.Duration // default 10s
	// ClientWriteTimeout: a client that takes none of the app's bytes for
	// this long is disconnected. Default 60s; 0 = no limit.
	ClientWriteTimeout time.Duration
	MaxConnections     int // default 0 = no limit
	// RollbackWindow: after a reload the old instance stays up this long,
	// taking no new connections, to be switched back to if the new one
	// exits or turns unhealthy (or by hand). Default 0 = off.
	RollbackWindow time.Duration
	// EarlyStopSignal sends an old instance its stop_signal right after new
	// connections went elsewhere, instead of after it drained: an app with
	// a graceful stop then closes its idle keep-alive connections at once.
	// Default false.
	EarlyStopSignal bool
	// Instances is how many instances serve at once, each on its own
	// internal port, new connections going to the least loaded. Default 1.
	Instances int
	// ReloadStrategy is ReloadAllAtOnce (the default) or ReloadRolling.
	ReloadStrategy string

	// Limits are applied to every instance (cgroup, rlimit).
	Limits Limits

	User string // username; "" = gracevisord's own user

	// Proxy is the PROXY protocol towards the app and from a balancer.
	Proxy ProxyProtocol

	// Alerts are the app's alert hooks, inherited key by key from the global ones.
	Alerts Alerts

	// Templates are rendered before each start of an instance; none by default.
	Templates []Template

	// Stdout and Stderr are the app's log files. They have the same Path
	// when both streams go to one file (log_file).
	Stdout LogFile
	Stderr LogFile

	// Source is "file:line" where the app was defined, for messages.
	Source string
}

// Limits are an app's per-instance resource limits. Zero means none.
type Limits struct {
	MemoryMaxMB    int     // memory_max: RAM (and swap: none) of the instance's cgroup, MB
	MemoryReloadMB int     // memory_reload: reload hitlessly when memory stays above it, MB
	PidsMax        int     // pids_max: processes and threads in the cgroup
	CPUMax         float64 // cpu_max: CPU time, in cores (0.5 = half of one)
	Nofile         int     // nofile: RLIMIT_NOFILE of the instance's process; 0 = the daemon's
}

// Cgroup reports whether any limit needs a cgroup controller.
func (l Limits) Cgroup() bool { return l.MemoryMaxMB > 0 || l.PidsMax > 0 || l.CPUMax > 0 }

// ExternalAddr is external_host:external_port.
func (a *App) ExternalAddr() string {
	return net.JoinHostPort(a.ExternalHost, strconv.Itoa(a.ExternalPort))
}

// App returns the app called name, or nil.
func (c *Config) App(name string) *App {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i]
		}
	}
	return nil
}
