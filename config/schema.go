package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// This file is the YAML schema: which keys each mapping accepts, and how
// each value decodes. Adding an option starts here.

// config decodes the root of gracevisor.yaml.
func (d *decoder) config(root *yaml.Node) rawConfig {
	c := rawConfig{pos: d.posOf(root, "")}
	d.mapping(root, c.pos, fields{
		"port_range":     d.portRange(&c.PortRange),
		"rpc":            d.rpc(&c.RPC),
		"logger":         d.logger(&c.Logger, false),
		"user":           d.user(&c.User),
		"apps_include":   d.strs(&c.AppsInclude),
		"apps":           d.apps(&c.Apps),
		"statsd":         d.statsd(&c.Statsd),
		"alerts":         d.alerts(&c.Alerts),
		"shutdown_delay": d.timeout(&c.ShutdownDelay),
	})
	return c
}

func (d *decoder) portRange(dst *rawPortRange) decodeFn {
	return func(v *yaml.Node, at pos) {
		dst.pos, dst.Set = at, !isNull(deref(v))
		d.mapping(v, at, fields{"from": d.int(&dst.From), "to": d.int(&dst.To)})
	}
}

func (d *decoder) rpc(dst *rawRPC) decodeFn {
	return func(v *yaml.Node, at pos) {
		d.mapping(v, at, fields{
			"host":            d.str(&dst.Host),
			"port":            d.int(&dst.Port),
			"socket":          d.str(&dst.Socket),
			"socket_mode":     d.fileMode(&dst.SocketMode),
			"socket_owner":    d.str(&dst.SocketOwner),
			"token_file":      d.str(&dst.TokenFile),
			"max_connections": d.int(&dst.MaxConnections),
			"tls":             d.tls(&dst.TLS),
		})
	}
}

func (d *decoder) tls(dst *rawTLS) decodeFn {
	return func(v *yaml.Node, at pos) {
		dst.pos, dst.Set = at, !isNull(deref(v))
		d.mapping(v, at, fields{"cert_file": d.str(&dst.CertFile), "key_file": d.str(&dst.KeyFile)})
	}
}

func (d *decoder) user(dst *rawUser) decodeFn {
	return func(v *yaml.Node, at pos) {
		d.mapping(v, at, fields{"username": d.str(&dst.Username)})
	}
}

// logger decodes the global logger, or with perApp an app's logger, which
// may also split stdout and stderr.
func (d *decoder) logger(dst *rawLogger, perApp bool) decodeFn {
	return func(v *yaml.Node, at pos) {
		dst.pos = at
		fs := fields{
			"log_dir":       d.str(&dst.LogDir),
			"log_file":      d.str(&dst.LogFile),
			"max_log_size":  d.int(&dst.MaxLogSize),
			"max_logs_kept": d.int(&dst.MaxLogsKept),
			"max_log_age":   d.int(&dst.MaxLogAge),
		}
		if perApp {
			fs["stdout_log_file"] = d.str(&dst.StdoutLogFile)
			fs["stderr_log_file"] = d.str(&dst.StderrLogFile)
		}
		d.mapping(v, at, fs)
	}
}

func (d *decoder) apps(dst *[]rawApp) decodeFn {
	return func(v *yaml.Node, at pos) {
		v = deref(v)
		if isNull(v) {
			return
		}
		if v.Kind != yaml.SequenceNode {
			d.probs.add(at, "want a list of apps, got %s", describe(v))
			return
		}
		for i, item := range v.Content {
			*dst = append(*dst, d.app(item, d.posOf(item, fmt.Sprintf("%s[%d]", at.Key, i))))
		}
	}
}

// app decodes one app mapping, inline (at.Key "apps[i]") or the root of an
// included file (at.Key "").
func (d *decoder) app(n *yaml.Node, at pos) rawApp {
	a := rawApp{pos: at}
	if isNull(deref(n)) {
		d.probs.add(at, "want an app (a mapping with name and command), got null")
		a.Name.Bad, a.Command.Bad = true, true // reported just now, not again as missing
		return a
	}
	d.mapping(n, at, fields{
		"name":                 d.str(&a.Name),
		"command":              d.str(&a.Command),
		"environment":          d.strs(&a.Environment),
		"directory":            d.str(&a.Directory),
		"healthcheck":          d.str(&a.Healthcheck),
		"internal_host":        d.str(&a.InternalHost),
		"external_host":        d.str(&a.ExternalHost),
		"external_port":        d.int(&a.ExternalPort),
		"stop_signal":          d.str(&a.StopSignal),
		"max_retries":          d.int(&a.MaxRetries),
		"start_timeout":        d.timeout(&a.StartTimeout),
		"stop_timeout":         d.timeout(&a.StopTimeout),
		"healthcheck_interval": d.timeout(&a.HealthcheckInterval),
		"healthcheck_timeout":  d.timeout(&a.HealthcheckTimeout),
		"healthcheck_failures": d.int(&a.HealthcheckFailures),
		"drain_timeout":        d.timeout(&a.DrainTimeout),
		"connect_timeout":      d.timeout(&a.ConnectTimeout),
		"client_write_timeout": d.timeout(&a.ClientWriteTimeout),
		"max_connections":      d.int(&a.MaxConnections),
		"memory_max":           d.int(&a.MemoryMax),
		"memory_reload":        d.int(&a.MemoryReload),
		"pids_max":             d.int(&a.PidsMax),
		"cpu_max":              d.float(&a.CPUMax),
		"nofile":               d.int(&a.Nofile),
		"rollback_window":      d.timeout(&a.RollbackWindow),
		"early_stop_signal":    d.bool(&a.EarlyStopSignal),
		"instances":            d.int(&a.Instances),
		"reload_strategy":      d.str(&a.ReloadStrategy),
		"user":                 d.user(&a.User),
		"logger":               d.logger(&a.Logger, true),
		"alerts":               d.alerts(&a.Alerts),
		"templates":            d.templates(&a.Templates),

		"proxy_protocol":             d.str(&a.Proxy.ProxyProtocol),
		"healthcheck_proxy_protocol": d.bool(&a.Proxy.HealthcheckProxyProtocol),
		"accept_proxy_protocol":      d.bool(&a.Proxy.AcceptProxyProtocol),
		"trusted_proxies":            d.strs(&a.Proxy.TrustedProxies),
		"proxy_header_timeout":       d.timeout(&a.Proxy.ProxyHeaderTimeout),
	})
	return a
}
