package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Defaults. Every default of the configuration is here and nowhere else;
// docs/configuration.md lists the same values.
const (
	defaultPortFrom = 10000
	defaultPortTo   = 11000
	defaultRPCHost  = "localhost"
	defaultRPCPort  = 9001

	defaultLogDir       = "/var/log/gracevisor"
	defaultLogFileName  = "gracevisor.log"
	defaultMaxLogSizeMB = 500
	noLimit             = 0 // max_logs_kept / max_log_age: keep all, forever

	defaultHost                = "localhost" // internal_host and external_host
	defaultExternalPort        = 8080
	defaultStopSignal          = "TERM"
	defaultMaxRetries          = 5
	defaultStartTimeout        = 60 * time.Second
	defaultStopTimeout         = 10 * time.Second
	defaultHealthcheckInterval = 5 * time.Second
	defaultHealthcheckTimeout  = 2 * time.Second
	defaultHealthcheckFailures = 3
	defaultDrainTimeout        = 30 * time.Second
	defaultConnectTimeout      = 10 * time.Second
	defaultClientWriteTimeout  = 60 * time.Second
	defaultMaxConnections      = 0 // no limit
	// memory_max, memory_reload, pids_max, cpu_max and nofile default to 0:
	// no limit (the daemon's own rlimit for nofile), no memory reload.
	defaultRollbackWindow = 0 // off
)

// inherited is what an app takes from the global config when it does not
// set it itself.
type inherited struct {
	logDir string
	rot    Rotation
	user   string
	alerts Alerts
}

// resolve applies defaults and inheritance to what was written. It reports
// nothing: values that validate will reject resolve to something harmless.
// abs makes a path absolute against the working directory.
func resolve(abs func(string) string, rc *rawConfig, apps []rawApp) *Config {
	logDir := abs(rc.Logger.LogDir.or(defaultLogDir))
	g := inherited{
		logDir: logDir,
		rot:    rotation(&rc.Logger, Rotation{MaxSizeMB: defaultMaxLogSizeMB, MaxBackups: noLimit, MaxAgeDays: noLimit}),
		user:   rc.User.Username.or(""),
	}
	c := &Config{
		PortRange: PortRange{From: rc.PortRange.From.or(defaultPortFrom), To: rc.PortRange.To.or(defaultPortTo)},
		RPC:       resolveRPC(abs, &rc.RPC),
		Log:       LogFile{Path: abs(rc.Logger.LogFile.or(filepath.Join(logDir, defaultLogFileName))), Rotation: g.rot},
		User:      g.user,
		// 0 (the default, and "-1 = no limit" of other timeouts) means no delay.
		ShutdownDelay: max(rc.ShutdownDelay.V, 0),
	}
	c.Statsd = resolveStatsd(&rc.Statsd)
	c.Alerts = resolveAlerts(&rc.Alerts, defaultAlerts())
	g.alerts = c.Alerts
	for i := range apps {
		c.Apps = append(c.Apps, resolveApp(abs, &apps[i], g))
	}
	return c
}

// rotation takes each rotation field from l, else from parent; -1 and 0 both
// mean "no limit" for max_logs_kept and max_log_age.
func rotation(l *rawLogger, parent Rotation) Rotation {
	r := Rotation{
		MaxSizeMB:  l.MaxLogSize.or(parent.MaxSizeMB),
		MaxBackups: l.MaxLogsKept.or(parent.MaxBackups),
		MaxAgeDays: l.MaxLogAge.or(parent.MaxAgeDays),
	}
	r.MaxBackups = max(r.MaxBackups, noLimit)
	r.MaxAgeDays = max(r.MaxAgeDays, noLimit)
	return r
}

func resolveApp(abs func(string) string, a *rawApp, g inherited) App {
	sig, _ := parseSignal(a.StopSignal.or(defaultStopSignal))
	app := App{
		Name:                a.Name.V,
		Command:             a.Command.V,
		Environment:         a.Environment.values(),
		Healthcheck:         a.Healthcheck.V,
		InternalHost:        a.InternalHost.or(defaultHost),
		ExternalHost:        a.ExternalHost.or(defaultHost),
		ExternalPort:        a.ExternalPort.or(defaultExternalPort),
		StopSignal:          sig,
		MaxRetries:          a.MaxRetries.or(defaultMaxRetries),
		StartTimeout:        a.StartTimeout.or(defaultStartTimeout),
		StopTimeout:         a.StopTimeout.or(defaultStopTimeout),
		HealthcheckInterval: a.HealthcheckInterval.or(defaultHealthcheckInterval),
		HealthcheckTimeout:  a.HealthcheckTimeout.or(defaultHealthcheckTimeout),
		HealthcheckFailures: a.HealthcheckFailures.or(defaultHealthcheckFailures),
		DrainTimeout:        a.DrainTimeout.or(defaultDrainTimeout),
		ConnectTimeout:      a.ConnectTimeout.or(defaultConnectTimeout),
		ClientWriteTimeout:  a.ClientWriteTimeout.or(defaultClientWriteTimeout),
		MaxConnections:      a.MaxConnections.or(defaultMaxConnections),
		RollbackWindow:      a.RollbackWindow.or(defaultRollbackWindow),
		EarlyStopSignal:     a.EarlyStopSignal.V,
		Instances:           a.Instances.or(defaultInstances),
		ReloadStrategy:      resolveReloadStrategy(a.ReloadStrategy),
		User:                a.User.Username.or(g.user),
		Alerts:              resolveAlerts(&a.Alerts, g.alerts),
		Templates:           resolveTemplates(abs, a.Templates),
		Source:              fmt.Sprintf("%s:%d", a.File, a.Line),
		Proxy:               resolveProxyProtocol(&a.Proxy),
	}
	if strings.TrimSpace(a.Directory.V) != "" {
		app.Directory = abs(a.Directory.V)
	}
	app.Stdout, app.Stderr = appLogs(abs, a, g)
	app.Limits = Limits{
		MemoryMaxMB:    a.MemoryMax.or(0),
		MemoryReloadMB: a.MemoryReload.or(0),
		PidsMax:        a.PidsMax.or(0),
		CPUMax:         a.CPUMax.or(0),
		Nofile:         a.Nofile.or(0),
	}
	return app
}

// appLogs resolves an app's two log files: stdout_log_file / stderr_log_file,
// else log_file for both, else log_dir/app_NAME.out and .err, with log_dir
// and rotation inherited field by field from the global logger.
func appLogs(abs func(string) string, a *rawApp, g inherited) (stdout, stderr LogFile) {
	l := &a.Logger
	dir := g.logDir
	if l.LogDir.Set {
		dir = abs(l.LogDir.V)
	}
	rot := rotation(l, g.rot)
	both := l.LogFile
	out := l.StdoutLogFile.or(both.or(filepath.Join(dir, "app_"+a.Name.V+".out")))
	errPath := l.StderrLogFile.or(both.or(filepath.Join(dir, "app_"+a.Name.V+".err")))
	return LogFile{Path: abs(out), Rotation: rot}, LogFile{Path: abs(errPath), Rotation: rot}
}
