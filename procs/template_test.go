package procs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gracevisor/gracevisor/config"
)

// TestBuildCommandRendersTemplates: each start writes its own file, with
// {port} and {app} replaced in the text and in dst, and src's mode.
func TestBuildCommandRendersTemplates(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "web.conf.in")
	if err := os.WriteFile(src, []byte("listen 127.0.0.1:{port}; # {app} {port}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	app := &config.App{Name: "web", Command: "true {port}",
		Templates: []config.Template{{Src: src, Dst: filepath.Join(dir, "{app}-{port}.conf")}}}
	for _, port := range []int{10001, 10002} {
		if _, err := buildCommand(app, port, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, port := range []string{"10001", "10002"} {
		dst := filepath.Join(dir, "web-"+port+".conf")
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if want := "listen 127.0.0.1:" + port + "; # web " + port + "\n"; string(got) != want {
			t.Errorf("%s: %q, want %q", dst, got, want)
		}
		if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want src's 0640", dst, fi.Mode())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestBuildCommandTemplateErrors: a template that cannot be rendered fails
// the start, naming the template.
func TestBuildCommandTemplateErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "t.in")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tmpl := range map[string]config.Template{
		"src gone":       {Src: filepath.Join(dir, "gone.in"), Dst: filepath.Join(dir, "x-{port}")},
		"no dst folder":  {Src: src, Dst: filepath.Join(dir, "nope", "x-{port}")},
		"src is unknown": {Src: "", Dst: filepath.Join(dir, "x-{port}")},
	} {
		app := &config.App{Name: "web", Command: "true {port}", Templates: []config.Template{tmpl}}
		cmd, err := buildCommand(app, 10001, 0)
		if err == nil || cmd != nil || !strings.HasPrefix(err.Error(), "template "+tmpl.Src+": ") {
			t.Errorf("%s: got %v, %v; want no command and an error naming the template", name, cmd, err)
		}
	}
}

// TestBuildCommandSubstitutesInstance: {instance} is the slot in the
// command, the environment, and a template's text and dst.
func TestBuildCommandSubstitutesInstance(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "t.in")
	if err := os.WriteFile(src, []byte("shard {instance} on {port}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := &config.App{Name: "web", Command: "run --port={port} --shard={instance}",
		Environment: []string{"SHARD={instance}", "NAME=w{instance}-{port}"},
		Templates:   []config.Template{{Src: src, Dst: filepath.Join(dir, "w{instance}-{port}.conf")}}}
	cmd, err := buildCommand(app, 10002, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cmd.Args, " "); got != "run --port=10002 --shard=2" {
		t.Errorf("argv %q", got)
	}
	env := strings.Join(cmd.Env, "\n")
	if !strings.Contains(env, "\nSHARD=2\n") || !strings.Contains(env, "\nNAME=w2-10002\n") {
		t.Errorf("environment lacks SHARD=2 and NAME=w2-10002: %v", cmd.Env)
	}
	if got := readFile(t, filepath.Join(dir, "w2-10002.conf")); got != "shard 2 on 10002\n" {
		t.Errorf("template rendered %q", got)
	}
}
