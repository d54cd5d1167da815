package config

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file is the alerts section (global, and per app key by key): its
// type, schema, defaults and checks.

// AlertEvents are the events alert hooks fire on, in the order docs/operations.md
// lists them. procs emits them under the same names.
var AlertEvents = []string{"crash", "restart", "reload_ok", "reload_failed", "fatal", "recovered", "unhealthy", "oom_killed", "rolled_back", "degraded"}

const (
	defaultAlertCommandTimeout = 30 * time.Second
	defaultWebhookTimeout      = 5 * time.Second
	defaultWebhookRetries      = 3
	maxWebhookRetries          = 10
)

// Alerts are the hooks that run when an app's state changes. An app takes
// each key it does not set from the global section.
type Alerts struct {
	// Events are the events that fire the hooks; default all of AlertEvents.
	Events []string
	// Command is run once per event, split into argv like an app's command
	// (no shell), with the event as JSON on stdin; "" = none.
	Command string
	// CommandTimeout bounds one run of Command; then its process group is
	// killed. Default 30s.
	CommandTimeout time.Duration
	Webhook        Webhook
}

// Webhook is an HTTP endpoint that gets each event POSTed as JSON.
type Webhook struct {
	URL     string        // http:// or https://; "" = none
	Timeout time.Duration // one try; default 5s
	Retries int           // further tries after a failed one; default 3
}

// Enabled reports whether any hook is configured.
func (a Alerts) Enabled() bool { return a.Command != "" || a.Webhook.URL != "" }

// Fires reports whether event is one the hooks run for.
func (a Alerts) Fires(event string) bool { return slices.Contains(a.Events, event) }

type rawAlerts struct {
	pos
	Events         list[string]
	Command        val[string]
	CommandTimeout val[time.Duration]
	Webhook        rawWebhook
}

type rawWebhook struct {
	pos
	Set     bool
	URL     val[string]
	Timeout val[time.Duration]
	Retries val[int]
}

func (d *decoder) alerts(dst *rawAlerts) decodeFn {
	return func(v *yaml.Node, at pos) {
		dst.pos = at
		d.mapping(v, at, fields{
			"events":          d.strs(&dst.Events),
			"command":         d.str(&dst.Command),
			"command_timeout": d.timeout(&dst.CommandTimeout),
			"webhook":         d.webhook(&dst.Webhook),
		})
	}
}

func (d *decoder) webhook(dst *rawWebhook) decodeFn {
	return func(v *yaml.Node, at pos) {
		n := deref(v)
		dst.pos, dst.Set = at, n != nil && n.Kind == yaml.MappingNode // anything else is reported
		d.mapping(v, at, fields{
			"url":     d.str(&dst.URL),
			"timeout": d.timeout(&dst.Timeout),
			"retries": d.int(&dst.Retries),
		})
	}
}

// defaultAlerts is what the global section inherits: no hooks, every event.
func defaultAlerts() Alerts {
	return Alerts{
		Events:         slices.Clone(AlertEvents),
		CommandTimeout: defaultAlertCommandTimeout,
		Webhook:        Webhook{Timeout: defaultWebhookTimeout, Retries: defaultWebhookRetries},
	}
}

// resolveAlerts takes each key from a, else from parent.
func resolveAlerts(a *rawAlerts, parent Alerts) Alerts {
	out := Alerts{
		Events:         slices.Clone(parent.Events),
		Command:        strings.TrimSpace(a.Command.or(parent.Command)),
		CommandTimeout: a.CommandTimeout.or(parent.CommandTimeout),
		Webhook: Webhook{
			URL:     strings.TrimSpace(a.Webhook.URL.or(parent.Webhook.URL)),
			Timeout: a.Webhook.Timeout.or(parent.Webhook.Timeout),
			Retries: a.Webhook.Retries.or(parent.Webhook.Retries),
		},
	}
	if a.Events.Set {
		out.Events = a.Events.values()
		if out.Events == nil {
			out.Events = []string{} // "events: []" silences the hooks
		}
	}
	return out
}

// monitoring checks the statsd section and every alerts section; c holds
// the resolved config, whose Apps match apps one to one.
func (v *validator) monitoring(c *Config, rc *rawConfig, apps []rawApp) {
	v.statsd(&rc.Statsd)
	v.alerts(&rc.Alerts, defaultAlerts())
	for i := range apps {
		v.alerts(&apps[i].Alerts, c.Alerts)
	}
}

// alerts checks one alerts section; parent is what it inherits.
func (v *validator) alerts(a *rawAlerts, parent Alerts) {
	for _, e := range a.Events.Items {
		if !slices.Contains(AlertEvents, e.V) {
			v.probs.add(e.pos, "unknown event %q; want one of %s", short(e.V), strings.Join(AlertEvents, ", "))
		}
	}
	if c := a.Command; c.Set && strings.TrimSpace(c.V) != "" {
		if _, err := SplitCommand(c.V); err != nil {
			v.probs.add(c.pos, "%v", err)
		}
	}
	v.positive(a.CommandTimeout)
	w := &a.Webhook
	switch {
	case w.URL.Set:
		v.webhookURL(w.URL)
	case w.Set && !w.URL.Bad && parent.Webhook.URL == "":
		v.probs.add(w.child("url"), "missing; a webhook needs the url to POST events to")
	}
	v.positive(w.Timeout)
	v.atLeast(w.Retries, 0, "")
	if r := w.Retries; r.Set && r.V > maxWebhookRetries {
		v.probs.add(r.pos, "must be at most %d, got %d", maxWebhookRetries, r.V)
	}
}

// webhookURL checks an http(s) URL; "" turns an inherited webhook off.
func (v *validator) webhookURL(s val[string]) {
	raw := strings.TrimSpace(s.V)
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.probs.add(s.pos, "want an http:// or https:// URL, got %q", short(raw))
	}
}
