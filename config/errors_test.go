package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// problemCase is one invalid configuration and the one problem it must
// produce: in file (relative to the config dir), at line, under key, with
// a message containing msg.
type problemCase struct {
	name  string
	files map[string]string
	file  string
	line  int
	key   string
	msg   string
}

// main is a case whose only file is gracevisor.yaml.
func main(name, yaml string, line int, key, msg string) problemCase {
	return problemCase{name, map[string]string{FileName: yaml}, FileName, line, key, msg}
}

// problemCases has one case per validation error.
func problemCases() []problemCase {
	return []problemCase{
		// YAML itself.
		main("bad YAML", "apps:\n  - name: a\n    command: [run\n", 2, "", "bad YAML"), // yaml.v3's line
		main("second document", "apps: []\n---\nrpc: {}\n", 3, "", "second YAML document"),
		main("repeated key", "rpc: {port: 1}\nrpc: {port: 2}\n", 2, "rpc", "key repeated (first written at line 1)"),
		main("root not a mapping", "- a\n", 1, "", "want a mapping, got a list"),
		main("key not plain", "? [a]\n: 1\n", 1, "", "want a plain key"),
		main("merge of a non-mapping", "apps:\n  - <<: 3\n    name: a\n    command: run {port}\n", 2, "apps[0].<<", "want a mapping to merge"),

		// Unknown keys (typos).
		main("unknown top-level key", "prot_range: {from: 1}\n", 1, "prot_range", `unknown key (did you mean "port_range"?)`),
		main("unknown app key", "apps:\n"+app("a", "    stop_signl: TERM\n"), 4, "apps[0].stop_signl", `did you mean "stop_signal"?`),
		main("unknown nested key", "logger:\n  log_dri: /x\n", 2, "logger.log_dri", `did you mean "log_dir"?`),
		main("app-only key in global logger", "logger: {stdout_log_file: x}\n", 1, "logger.stdout_log_file", "unknown key"),
		main("unknown key, nothing near", "apps:\n"+app("a", "    colour: blue\n"), 4, "apps[0].colour", "unknown key"),

		// Wrong types.
		main("port not an integer", "rpc:\n  port: abc\n", 2, "rpc.port", `want an integer, got the string "abc"`),
		main("quoted port", "rpc: {port: \"9001\"}\n", 1, "rpc.port", "want an integer"),
		main("port_range a list", "port_range: [1, 2]\n", 1, "port_range", "want a mapping, got a list"),
		main("apps a mapping", "apps: {name: a}\n", 1, "apps", "want a list of apps, got a mapping"),
		main("app null", "apps:\n  -\n", 2, "apps[0]", "want an app"),
		main("environment a string", "apps:\n"+app("a", "    environment: A=1\n"), 4, "apps[0].environment", "want a list of strings"),
		main("environment null item", "apps:\n"+app("a", "    environment:\n      -\n"), 5, "apps[0].environment[0]", "want a string, got null"),
		main("command a list", "apps:\n  - name: a\n    command: [run]\n", 3, "apps[0].command", "want a string, got a list"),
		main("apps_include a string", "apps_include: conf.d\n", 1, "apps_include", "want a list of strings"),
		main("port a boolean", "rpc: {port: true}\n", 1, "rpc.port", "want an integer, got the boolean true"),
		main("timeout a mapping", "apps:\n"+app("a", "    start_timeout: {s: 1}\n"), 4, "apps[0].start_timeout", "got a mapping"),
		main("timeout a float", "apps:\n"+app("a", "    start_timeout: 1.5\n"), 4, "apps[0].start_timeout", `want whole seconds or a duration such as "1500ms", got the number 1.5`),
		main("timeout a word", "apps:\n"+app("a", "    stop_timeout: soon\n"), 4, "apps[0].stop_timeout", `got the string "soon"`),
		main("timeout negative", "apps:\n"+app("a", "    drain_timeout: -3\n"), 4, "apps[0].drain_timeout", "must not be negative, got -3"),
		main("timeout negative duration", "apps:\n"+app("a", "    stop_timeout: -2s\n"), 4, "apps[0].stop_timeout", "must not be negative"),
		main("timeout too long", "apps:\n"+app("a", "    stop_timeout: 9223372036854775807\n"), 4, "apps[0].stop_timeout", "too long"),

		// Limits.
		main("memory_max negative", "apps:\n"+app("a", "    memory_max: -1\n"), 4, "apps[0].memory_max", "must be at least 0 (megabytes; 0 = no limit), got -1"),
		main("pids_max a word", "apps:\n"+app("a", "    pids_max: many\n"), 4, "apps[0].pids_max", `want an integer, got the string "many"`),
		main("cpu_max a word", "apps:\n"+app("a", "    cpu_max: half\n"), 4, "apps[0].cpu_max", `want a number, got the string "half"`),
		main("cpu_max too small", "apps:\n"+app("a", "    cpu_max: 0.001\n"), 4, "apps[0].cpu_max", "at least 0.01 cores"),
		main("nofile negative", "apps:\n"+app("a", "    nofile: -5\n"), 4, "apps[0].nofile", "must be at least 0"),
		main("memory_reload not below memory_max", "apps:\n"+app("a", "    memory_max: 100\n    memory_reload: 100\n"), 5, "apps[0].memory_reload", "must be below memory_max (100 MB)"),

		// Apps: required fields, names, {port}.
		main("missing name", "apps:\n  - command: run {port}\n", 2, "apps[0].name", "missing"),
		main("missing command", "apps:\n  - name: a\n", 2, "apps[0].command", "missing"),
		main("empty command", "apps:\n  - name: a\n    command: \"  \"\n", 3, "apps[0].command", "must not be empty"),
		main("command with process substitution", "apps:\n  - name: a\n    command: \"cat <(echo) --port={port}\"\n", 3, "apps[0].command", "process substitution: no shell runs the command"),
		main("command with a variable", "apps:\n  - name: a\n    command: \"run --port={port} $HOME\"\n", 3, "apps[0].command", "$HOME: no shell runs the command"),
		main("command unbalanced quote", "apps:\n  - name: a\n    command: \"run 'x --port={port}\"\n", 3, "apps[0].command", "parse command"),
		main("empty name", "apps:\n  - name: \"\"\n    command: run {port}\n", 2, "apps[0].name", "must not be empty"),
		main("invalid name", "apps:\n"+app("my app", ""), 2, "apps[0].name", "may only hold letters"),
		main("non-ASCII name", "apps:\n"+app("café", ""), 2, "apps[0].name", "may only hold letters"),
		main("long value cut short", "apps:\n"+app(strings.Repeat("x", 45)+"!", ""), 2, "apps[0].name", `"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" may only hold`),
		main("dot name", "apps:\n"+app("..", ""), 2, "apps[0].name", "not a usable name"),
		main("name too long", "apps:\n"+app(strings.Repeat("a", 65), ""), 2, "apps[0].name", "is 65 characters long; the limit is 64"),
		main("name of 5000 characters", "apps:\n"+app(strings.Repeat("a", 5000), ""), 2, "apps[0].name", `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…" is 5000 characters long`),
		main("no {port}", "apps:\n  - name: a\n    command: run --port=8000\n    environment: [A=1]\n", 3, "apps[0].command", "{port} appears in neither command nor environment"),
		main("duplicate name", "apps:\n"+app("a", "")+app("a", "    external_port: 8081\n"), 4, "apps[1].name", `duplicate app name "a" (first defined at `),
		main("environment without =", "apps:\n"+app("a", "    environment: [\"=1\"]\n"), 4, "apps[0].environment[0]", "want KEY=VALUE"),
		main("healthcheck not a path", "apps:\n"+app("a", "    healthcheck: health\n"), 4, "apps[0].healthcheck", `want an HTTP path such as "/health"`),
		main("empty internal_host", "apps:\n"+app("a", "    internal_host: \"\"\n"), 4, "apps[0].internal_host", "must not be empty"),

		// Numbers.
		main("unknown signal", "apps:\n"+app("a", "    stop_signal: SIGFOO\n"), 4, "apps[0].stop_signal", `unknown signal "SIGFOO"`),
		main("numeric signal", "apps:\n"+app("a", "    stop_signal: 15\n"), 4, "apps[0].stop_signal", "unknown signal"),
		main("max_retries negative", "apps:\n"+app("a", "    max_retries: -1\n"), 4, "apps[0].max_retries", "must be at least 0"),
		main("healthcheck_failures 0", "apps:\n"+app("a", "    healthcheck_failures: 0\n"), 4, "apps[0].healthcheck_failures", "must be at least 1"),
		main("max_connections negative", "apps:\n"+app("a", "    max_connections: -1\n"), 4, "apps[0].max_connections", "must be at least 0"),
		main("healthcheck_interval 0", "apps:\n"+app("a", "    healthcheck_interval: 0\n"), 4, "apps[0].healthcheck_interval", "must be more than 0"),
		main("healthcheck_timeout 0", "apps:\n"+app("a", "    healthcheck_timeout: 0s\n"), 4, "apps[0].healthcheck_timeout", "must be more than 0"),
		main("connect_timeout 0", "apps:\n"+app("a", "    connect_timeout: 0\n"), 4, "apps[0].connect_timeout", "must be more than 0"),
		main("max_log_size 0", "logger:\n  max_log_size: 0\n", 2, "logger.max_log_size", "must be at least 1 (megabytes)"),
		main("max_logs_kept -2", "logger:\n  max_logs_kept: -2\n", 2, "logger.max_logs_kept", "-1 or 0 for no limit"),
		main("app max_log_age -2", "apps:\n"+app("a", "    logger:\n      max_log_age: -2\n"), 5, "apps[0].logger.max_log_age", "-1 or 0 for no limit"),
		main("empty log_dir", "logger: {log_dir: \"\"}\n", 1, "logger.log_dir", "must not be empty"),

		// Log folders: the daemon must be able to create files there.
		main("log_dir on proc", "logger: {log_dir: /proc/self}\n", 1, "logger.log_dir", "/proc/self is not a writable directory: it is on proc, a kernel file system"),
		main("app log_dir on sysfs", "apps:\n"+app("a", "    logger: {log_dir: /sys/kernel}\n"), 4, "apps[0].logger.log_dir", "/sys/kernel is not a writable directory: it is on sysfs"),
		main("log_dir under proc", "logger: {log_dir: /proc/self/logs}\n", 1, "logger.log_dir", "/proc/self/logs does not exist and cannot be created: /proc/self is not a writable directory"),
		{"log_dir a file", map[string]string{FileName: "logger: {log_dir: notes.txt}\n", "notes.txt": "x"},
			FileName, 1, "logger.log_dir", "notes.txt is not a writable directory: not a directory"},
		{"app log_dir under a file", map[string]string{FileName: "apps:\n" + app("a", "    logger:\n      log_dir: notes.txt/logs\n"), "notes.txt": "x"},
			FileName, 5, "apps[0].logger.log_dir", "notes.txt/logs does not exist and cannot be created: "},

		// Ports and addresses.
		main("rpc port too big", "rpc: {port: 70000}\n", 1, "rpc.port", "port 70000 is out of range 1..65535"),
		main("external_port 0", "apps:\n"+app("a", "    external_port: 0\n"), 4, "apps[0].external_port", "out of range"),
		main("port_range.from 0", "port_range:\n  from: 0\n", 2, "port_range.from", "out of range"),
		main("empty port_range", "port_range: {from: 20000, to: 20000}\n", 1, "port_range", "empty: from and to are both 20000"),
		main("inverted port_range", "port_range:\n  from: 30000\n  to: 20000\n", 1, "port_range", "inverted: from 30000 is above to 20000"),
		main("inverted by the default to", "port_range: {from: 12000}\n", 1, "port_range", "to 11000 (the default)"),
		main("external_port inside port_range", "apps:\n"+app("a", "    external_port: 10500\n"), 4, "apps[0].external_port", "port 10500 is inside port_range [10000, 11000)"),
		main("default external_port inside port_range", "port_range: {from: 8000, to: 9000}\napps:\n"+app("a", ""), 3, "apps[0].external_port", "port 8080 (the default) is inside port_range [8000, 9000)"),
		main("rpc port inside port_range", "port_range: {from: 9000, to: 9100}\n", 1, "rpc.port", "port 9001 (the default) is inside port_range"),
		main("two apps on one address", "apps:\n"+app("a", "    external_port: 8081\n")+app("b", "    external_port: 8081\n"), 7, "apps[1].external_port", `external address localhost:8081 is already used by app "a"`),
		main("two apps on the default address", "apps:\n"+app("a", "")+app("b", ""), 4, "apps[1].external_port", `localhost:8080 (the default) is already used by app "a"`),
		main("wildcard host collides", "apps:\n"+app("a", "")+app("b", "    external_host: 0.0.0.0\n"), 4, "apps[1].external_port", "already used by app"),
		main("IPv6 wildcard collides", "apps:\n"+app("a", "")+app("b", "    external_host: \"[::]\"\n"), 4, "apps[1].external_port", "already used by app"),
		main("localhost is 127.0.0.1", "apps:\n"+app("a", "")+app("b", "    external_host: 127.0.0.1\n"), 4, "apps[1].external_port", "already used by app"),
		main("app on the rpc address", "apps:\n"+app("a", "    external_port: 9001\n"), 4, "apps[0].external_port", "the control API's address"),

		// Users.
		main("unknown global user", "user:\n  username: no-such-user-gv\n", 2, "user.username", `unknown user "no-such-user-gv"`),
		main("unknown app user", "apps:\n"+app("a", "    user: {username: no-such-user-gv}\n"), 4, "apps[0].user.username", "unknown user"),

		// Includes.
		main("missing include path", "apps_include:\n  - conf.d\n", 2, "apps_include[0]", "conf.d: no such file or directory"),
		main("empty include path", "apps_include: [\"\"]\n", 1, "apps_include[0]", "must not be empty"),
		{"included file empty", map[string]string{FileName: "apps_include: [conf.d]\n", "conf.d/a.yaml": "# nothing\n"},
			FileName, 1, "apps_include[0]", "a.yaml is empty; an included file holds one app"},
		{"included file with two apps", map[string]string{FileName: "apps_include: [a.yaml]\n", "a.yaml": "name: a\ncommand: run {port}\n---\nname: b\ncommand: run {port}\n"},
			FileName, 1, "apps_include[0]", "holds 2 apps (a second YAML document starts at line 4)"},
		{"included file with a list of apps", map[string]string{FileName: "apps_include: [a.yaml]\n", "a.yaml": "- name: a\n  command: run {port}\n"},
			FileName, 1, "apps_include[0]", "holds a list; an included file holds one app, written as a mapping"},
		{"included file not a file", map[string]string{FileName: "apps_include: [/dev/null]\n"},
			FileName, 1, "apps_include[0]", "not a regular file"},
		{"bad YAML in included file", map[string]string{FileName: "apps_include: [conf.d]\n", "conf.d/a.yaml": "name: a\ncommand: [\n"},
			"conf.d/a.yaml", 2, "", "bad YAML"},
		{"typo in included file", map[string]string{FileName: "apps_include: [conf.d]\n", "conf.d/a.yaml": "name: a\ncomand: run {port}\ncommand: run {port}\n"},
			"conf.d/a.yaml", 2, "comand", `unknown key (did you mean "command"?)`},
		{"missing name in included file", map[string]string{FileName: "apps_include: [conf.d]\n", "conf.d/a.yaml": "\ncommand: run {port}\n"},
			"conf.d/a.yaml", 2, "name", "missing"},
		{"included duplicate of an inline app", map[string]string{FileName: "apps_include: [a.yaml]\napps:\n" + app("a", ""), "a.yaml": "name: a\ncommand: run {port}\nexternal_port: 8081\n"},
			"a.yaml", 1, "name", "duplicate app name"},
	}
}

// TestProblems: each invalid configuration must produce exactly its one
// problem, naming the file, the line and the key.
func TestProblems(t *testing.T) {
	for _, tc := range problemCases() {
		t.Run(tc.name, func(t *testing.T) { checkOneProblem(t, tc) })
	}
}

// checkOneProblem loads tc's files and wants exactly tc's problem, printed
// as one "FILE:LINE: KEY: message" line.
func checkOneProblem(t *testing.T, tc problemCase) {
	t.Helper()
	dir, ps := loadProblems(t, tc.files)
	if len(ps) != 1 {
		t.Fatalf("want 1 problem, got %d:\n%s", len(ps), (&Error{ps}).Error())
	}
	p := ps[0]
	file := filepath.Join(dir, tc.file)
	if p.File != file || p.Line != tc.line || p.Key != tc.key || !strings.Contains(p.Msg, tc.msg) {
		t.Errorf("got  %s\nwant %s:%d: %s: …%s…", p, file, tc.line, tc.key, tc.msg)
	}
	prefix := fmt.Sprintf("%s:%d: ", file, tc.line)
	if tc.key != "" {
		prefix += tc.key + ": "
	}
	if s := p.String(); !strings.HasPrefix(s, prefix) || strings.Contains(s, "\n") {
		t.Errorf("line %q does not start with %q or is not one line", s, prefix)
	}
}

// TestMissingConfigFile: one clear problem, and errors.Is sees the cause.
func TestMissingConfigFile(t *testing.T) {
	dir, ps := loadProblems(t, map[string]string{"other.yaml": "apps: []\n"})
	want := filepath.Join(dir, FileName) + ": config file not found (gracevisord --conf DIR reads DIR/gracevisor.yaml)"
	if len(ps) != 1 || ps[0].String() != want {
		t.Fatalf("got %v, want %q", ps, want)
	}
	_, err := Load(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	if _, err := Load(filepath.Join(dir, "no-such-dir")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config dir: %v", err)
	}
}

// TestConfigFileNotRegular: a folder named gracevisor.yaml is reported, not read.
func TestConfigFileNotRegular(t *testing.T) {
	dir, ps := loadProblems(t, map[string]string{FileName + "/": ""})
	if len(ps) != 1 || !strings.Contains(ps[0].String(), filepath.Join(dir, FileName)+": cannot read config file: ") {
		t.Fatalf("got %v", ps)
	}
}

// TestFIFONotRead: a FIFO as config file or include is reported, and does
// not block Load waiting for a writer.
func TestFIFONotRead(t *testing.T) {
	dir := inTempDir(t, map[string]string{"etc/": "", FileName: "apps_include: [fifo.yaml]\n"})
	for _, p := range []string{"etc/" + FileName, "fifo.yaml"} {
		if err := syscall.Mkfifo(filepath.Join(dir, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, conf := range []string{"etc", "."} {
		_, err := Load(conf)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Load(%s) = %v, want a not-a-regular-file problem", conf, err)
		}
	}
}

// TestEveryProblemAtOnce: problems in several files and of several kinds
// come back together, one line each, main file first, in line order.
func TestEveryProblemAtOnce(t *testing.T) {
	dir, ps := loadProblems(t, map[string]string{
		FileName: "port_range: {from: 30000, to: 20000}\n" + // 1
			"rpc: {port: x}\n" + // 2
			"apps_include: [conf.d, missing]\n" + // 3
			"apps:\n" + // 4
			"  - name: a\n" + // 5
			"    command: run\n" + // 6
			"    stop_signal: NOPE\n" + // 7
			"  - name: a\n" + // 8
			"    command: run {port}\n" + // 9
			"    external_port: 8081\n", // 10
		"conf.d/b.yaml": "name: b c\ncommand: run {port}\nuser: {username: no-such-user-gv}\nextenal_port: 1\n",
	})
	main, inc := filepath.Join(dir, FileName), filepath.Join(dir, "conf.d/b.yaml")
	want := []string{
		main + ":1: port_range: inverted",
		main + ":2: rpc.port: want an integer",
		main + ":3: apps_include[1]: include path",
		main + ":6: apps[0].command: {port} appears in neither",
		main + ":7: apps[0].stop_signal: unknown signal",
		main + ":8: apps[1].name: duplicate app name",
		inc + ":1: name: \"b c\" may only hold",
		inc + ":1: external_port: external address localhost:8080 (the default) is already used by app \"a\"",
		inc + ":3: user.username: unknown user",
		inc + ":4: extenal_port: unknown key (did you mean \"external_port\"?)",
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i, got[i], want[i])
		}
	}
	_, err := Load(dir)
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("Error() has %d lines, want %d", len(lines), len(want))
	}
}
