package config

import "time"

// pos is where a value was written: file, line and dotted key path.
type pos struct {
	File string
	Line int
	Key  string
}

// child is the position of key name under p. It keeps p's line, which is
// where a problem about a value that was not written at all is reported.
func (p pos) child(name string) pos {
	if p.Key != "" {
		name = p.Key + "." + name
	}
	return pos{File: p.File, Line: p.Line, Key: name}
}

// val is one scalar option as written in YAML: its value, whether it was
// written at all, and where. Bad marks a value that was written but could
// not be decoded; it was reported already, so later checks skip it.
type val[T any] struct {
	pos
	V   T
	Set bool
	Bad bool
}

// or is the written value, else def.
func (v val[T]) or(def T) T {
	if v.Set {
		return v.V
	}
	return def
}

// at is where the value was written, or — when it was not — where it would
// have been: key under parent, at parent's line.
func (v val[T]) at(parent pos, key string) pos {
	if v.Set {
		return v.pos
	}
	return parent.child(key)
}

// list is a YAML list of scalars; pos is the list's own position.
type list[T any] struct {
	pos
	Items []val[T]
	Set   bool
}

// values is the list's decoded items, nil when there are none.
func (l list[T]) values() []T {
	var out []T
	for _, it := range l.Items {
		out = append(out, it.V)
	}
	return out
}

// rawConfig is gracevisor.yaml as written, before defaults.
type rawConfig struct {
	pos         // the file's root
	PortRange   rawPortRange
	RPC         rawRPC
	Logger      rawLogger
	User        rawUser
	AppsInclude list[string]
	Apps        []rawApp
	Statsd      rawStatsd
	Alerts      rawAlerts
	// ShutdownDelay is how long a shutdown keeps accepting after /healthz
	// turned 503 (0: none).
	ShutdownDelay val[time.Duration]
}

type rawPortRange struct {
	pos
	From, To val[int]
	Set      bool
}

type rawRPC struct {
	Host           val[string]
	Port           val[int]
	Socket         val[string]
	SocketMode     val[uint32]
	SocketOwner    val[string]
	TokenFile      val[string]
	MaxConnections val[int]
	TLS            rawTLS
}

// rawTLS is rpc.tls.
type rawTLS struct {
	pos
	CertFile, KeyFile val[string]
	Set               bool
}

// rawLogger is both the global logger and an app's logger; the global one
// does not accept stdout_log_file / stderr_log_file.
type rawLogger struct {
	pos
	LogDir        val[string]
	LogFile       val[string]
	StdoutLogFile val[string]
	StderrLogFile val[string]
	MaxLogSize    val[int]
	MaxLogsKept   val[int]
	MaxLogAge     val[int]
}

type rawUser struct {
	Username val[string]
}

// rawApp is one app as written, inline or in an included file.
type rawApp struct {
	pos                 // the app's mapping; Key is "apps[i]" inline and "" in an included file
	Name                val[string]
	Command             val[string]
	Environment         list[string]
	Directory           val[string]
	Healthcheck         val[string]
	InternalHost        val[string]
	ExternalHost        val[string]
	ExternalPort        val[int]
	StopSignal          val[string]
	MaxRetries          val[int]
	StartTimeout        val[time.Duration]
	StopTimeout         val[time.Duration]
	HealthcheckInterval val[time.Duration]
	HealthcheckTimeout  val[time.Duration]
	HealthcheckFailures val[int]
	DrainTimeout        val[time.Duration]
	ConnectTimeout      val[time.Duration]
	ClientWriteTimeout  val[time.Duration]
	MaxConnections      val[int]
	MemoryMax           val[int]
	MemoryReload        val[int]
	PidsMax             val[int]
	CPUMax              val[float64]
	Nofile              val[int]
	RollbackWindow      val[time.Duration]
	EarlyStopSignal     val[bool]
	Instances           val[int]
	ReloadStrategy      val[string]
	User                rawUser
	Logger              rawLogger
	Alerts              rawAlerts
	Templates           []rawTemplate
	Proxy               rawProxyProtocol
}
