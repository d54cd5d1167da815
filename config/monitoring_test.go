package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// monitoringProblemCases has one case per validation error of the statsd
// and alerts sections.
func monitoringProblemCases() []problemCase {
	return []problemCase{
		// statsd.
		main("statsd without address", "statsd:\n  prefix: gv\n", 1, "statsd.address", "missing; statsd needs the host:port"),
		main("statsd address without port", "statsd: {address: localhost}\n", 1, "statsd.address", `want host:port such as "127.0.0.1:8125", got "localhost"`),
		main("statsd address without host", "statsd: {address: \":8125\"}\n", 1, "statsd.address", "want host:port"),
		main("statsd port not a number", "statsd:\n  address: localhost:statsd\n", 2, "statsd.address", `port "statsd" is not a number in 1..65535`),
		main("statsd port out of range", "statsd: {address: \"localhost:70000\"}\n", 1, "statsd.address", "not a number in 1..65535"),
		main("statsd prefix with a colon", "statsd: {address: \"localhost:8125\", prefix: \"a:b\"}\n", 1, "statsd.prefix", "may only hold letters"),
		main("statsd interval 0", "statsd:\n  address: localhost:8125\n  interval: 0\n", 3, "statsd.interval", "must be more than 0"),
		main("statsd interval a word", "statsd: {address: \"localhost:8125\", interval: often}\n", 1, "statsd.interval", "want whole seconds"),
		main("statsd typo", "statsd: {address: \"localhost:8125\", prefx: gv}\n", 1, "statsd.prefx", `unknown key (did you mean "prefix"?)`),
		main("statsd a list", "statsd: [a]\n", 1, "statsd", "want a mapping, got a list"),

		// alerts, global.
		main("unknown event", "alerts:\n  events: [crash, crsh]\n", 2, "alerts.events[1]", `unknown event "crsh"; want one of crash, restart, reload_ok, reload_failed, fatal, recovered, unhealthy`),
		main("events a string", "alerts: {events: crash}\n", 1, "alerts.events", "want a list of strings"),
		main("command with a variable", "alerts:\n  command: notify $HOME\n", 2, "alerts.command", "$HOME: no shell runs the command"),
		main("command unbalanced quote", "alerts: {command: \"notify 'oops\"}\n", 1, "alerts.command", "parse command"),
		main("command_timeout 0", "alerts: {command: notify, command_timeout: 0}\n", 1, "alerts.command_timeout", "must be more than 0"),
		main("webhook without url", "alerts:\n  webhook:\n    timeout: 3\n", 2, "alerts.webhook.url", "missing; a webhook needs the url"),
		main("webhook url not http", "alerts: {webhook: {url: \"ftp://x/y\"}}\n", 1, "alerts.webhook.url", `want an http:// or https:// URL, got "ftp://x/y"`),
		main("webhook url without host", "alerts: {webhook: {url: \"http:///x\"}}\n", 1, "alerts.webhook.url", "want an http:// or https:// URL"),
		main("webhook timeout 0", "alerts: {webhook: {url: \"http://h/\", timeout: 0s}}\n", 1, "alerts.webhook.timeout", "must be more than 0"),
		main("webhook retries negative", "alerts: {webhook: {url: \"http://h/\", retries: -1}}\n", 1, "alerts.webhook.retries", "must be at least 0, got -1"),
		main("webhook retries too many", "alerts: {webhook: {url: \"http://h/\", retries: 11}}\n", 1, "alerts.webhook.retries", "must be at most 10, got 11"),
		main("webhook a string", "alerts: {webhook: \"http://h/\"}\n", 1, "alerts.webhook", "want a mapping, got the string"),
		main("alerts typo", "alerts: {comand: notify}\n", 1, "alerts.comand", `did you mean "command"?`),
		main("webhook typo", "alerts: {webhook: {url: \"http://h/\", retris: 1}}\n", 1, "alerts.webhook.retris", `did you mean "retries"?`),

		// alerts, per app.
		main("app unknown event", "apps:\n"+app("a", "    alerts:\n      events: [fatl]\n"), 5, "apps[0].alerts.events[0]", `unknown event "fatl"`),
		main("app webhook without url, none inherited", "apps:\n"+app("a", "    alerts: {webhook: {retries: 1}}\n"), 4, "apps[0].alerts.webhook.url", "missing"),
		main("app command with a variable", "apps:\n"+app("a", "    alerts: {command: \"x ${A}\"}\n"), 4, "apps[0].alerts.command", "$A: no shell"),
		{"included app alerts typo", map[string]string{FileName: "apps_include: [a.yaml]\n", "a.yaml": "name: a\ncommand: run {port}\nalerts:\n  webhok: {}\n"},
			"a.yaml", 4, "alerts.webhok", `did you mean "webhook"?`},
	}
}

// TestMonitoringProblems: each invalid statsd or alerts section produces
// exactly its one problem, naming the file, the line and the key.
func TestMonitoringProblems(t *testing.T) {
	for _, tc := range monitoringProblemCases() {
		t.Run(tc.name, func(t *testing.T) { checkOneProblem(t, tc) })
	}
}

// TestMonitoringEveryProblemAtOnce: problems of both sections and of an
// app come back together in line order.
func TestMonitoringEveryProblemAtOnce(t *testing.T) {
	_, ps := loadProblems(t, map[string]string{FileName: "statsd: {address: nowhere, interval: 0}\n" + // 1
		"alerts:\n" + // 2
		"  events: [boom]\n" + // 3
		"  webhook: {url: \"mailto:x\", retries: 99}\n" + // 4
		"apps:\n" + app("a", "    alerts: {command_timeout: 0}\n")}) // 5-7
	var keys []string
	for _, p := range ps {
		keys = append(keys, fmt.Sprintf("%d:%s", p.Line, p.Key))
	}
	want := []string{"1:statsd.address", "1:statsd.interval", "3:alerts.events[0]", "4:alerts.webhook.url", "4:alerts.webhook.retries", "8:apps[0].alerts.command_timeout"}
	if !slices.Equal(keys, want) {
		t.Errorf("problems at %v, want %v:\n%s", keys, want, (&Error{ps}).Error())
	}
}

// TestStatsdDefaults: the section is off unless written; written, it gets
// the default prefix and interval.
func TestStatsdDefaults(t *testing.T) {
	if c := mustLoad(t, "apps: []\n"); c.Statsd.Enabled() || c.Statsd != (Statsd{}) {
		t.Errorf("no section: %+v", c.Statsd)
	}
	c := mustLoad(t, "statsd: {address: \"127.0.0.1:8125\"}\n")
	if want := (Statsd{Address: "127.0.0.1:8125", Prefix: "gracevisor", Interval: 10 * time.Second}); c.Statsd != want || !c.Statsd.Enabled() {
		t.Errorf("got %+v, want %+v", c.Statsd, want)
	}
	c = mustLoad(t, "statsd: {address: \"[::1]:9125\", prefix: \"\", interval: 500ms}\n")
	if want := (Statsd{Address: "[::1]:9125", Prefix: "", Interval: 500 * time.Millisecond}); c.Statsd != want {
		t.Errorf("got %+v, want %+v", c.Statsd, want)
	}
}

// TestAlertsInheritKeyByKey: an app takes every alerts key it does not set
// from the global section; "" and [] turn an inherited hook or event off.
func TestAlertsInheritKeyByKey(t *testing.T) {
	c := mustLoad(t, "alerts:\n"+
		"  command: notify --to 'ops team'\n"+
		"  webhook: {url: \"http://127.0.0.1:1/hook\", retries: 1}\n"+
		"apps:\n"+
		app("same", "")+
		app("events", "    external_port: 8081\n    alerts: {events: [fatal], webhook: {timeout: 1}}\n")+
		app("quiet", "    external_port: 8082\n    alerts: {command: \"\", webhook: {url: \"\"}, events: []}\n"))
	global := Alerts{
		Events: AlertEvents, Command: "notify --to 'ops team'", CommandTimeout: 30 * time.Second,
		Webhook: Webhook{URL: "http://127.0.0.1:1/hook", Timeout: 5 * time.Second, Retries: 1},
	}
	events := global
	events.Events = []string{"fatal"}
	events.Webhook.Timeout = time.Second
	quiet := Alerts{Events: []string{}, CommandTimeout: 30 * time.Second, Webhook: Webhook{Timeout: 5 * time.Second, Retries: 1}}
	for name, want := range map[string]Alerts{"": global, "same": global, "events": events, "quiet": quiet} {
		got := c.Alerts
		if name != "" {
			got = c.App(name).Alerts
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v\nwant %+v", name, got, want)
		}
	}
	if !c.App("events").Alerts.Fires("fatal") || c.App("events").Alerts.Fires("crash") {
		t.Errorf("Fires: events filter not applied")
	}
	if q := c.App("quiet").Alerts; q.Enabled() || q.Fires("fatal") {
		t.Errorf("quiet app: %+v", q)
	}
}

// TestAlertsChangeIsNoAppChange: Diff ignores alerts, so editing them
// never reloads an app.
func TestAlertsChangeIsNoAppChange(t *testing.T) {
	old := mustLoad(t, "apps:\n"+app("a", ""))
	next := mustLoad(t, "alerts: {command: notify}\napps:\n"+app("a", "    alerts: {events: [fatal]}\n"))
	if added, removed, changed := Diff(old, next); len(added)+len(removed)+len(changed) != 0 {
		t.Errorf("Diff = %v %v %v, want no change", added, removed, changed)
	}
}

// TestSplitCommand: shell quoting rules, no shell.
func TestSplitCommand(t *testing.T) {
	for line, want := range map[string][]string{
		`notify --to "ops team"`: {"notify", "--to", "ops team"},
		`a 'b c' d\ e`:           {"a", "b c", "d e"},
	} {
		if got, err := SplitCommand(line); err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %q, %v; want %q", line, got, err, want)
		}
	}
	for line, msg := range map[string]string{
		"x $Y": "$Y: no shell", "  ": "empty", `x "y`: "parse command",
		// mvdan.cc/sh's Fields panics on these (v3.14.1): rejected before it runs.
		"notify <(x)": "process substitution", "cat >(x)": "process substitution",
		"x $(date)": "command substitution", "x `date`": "command substitution",
		"x $((1+2))": "arithmetic expansion", "x @(a|b)": "",
	} {
		if msg == "" { // must not panic; an error or argv are both fine
			_, _ = SplitCommand(line)
			continue
		}
		if _, err := SplitCommand(line); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want …%s…", line, err, msg)
		}
	}
}
