package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

func names(c *Config) []string {
	var out []string
	for _, a := range c.Apps {
		out = append(out, a.Name)
	}
	return out
}

// TestInclude: folders give their *.yaml and *.yml files sorted by name,
// single files are taken as they are, and included apps follow the inline
// ones in include order.
func TestInclude(t *testing.T) {
	appFile := func(name string, port string) string {
		return "name: " + name + "\ncommand: run {port}\nexternal_port: " + port + "\n"
	}
	dir := inTempDir(t, map[string]string{
		FileName:              "apps_include: [conf.d, single/one.conf]\napps:\n" + app("inline", ""),
		"conf.d/b.yml":        appFile("b", "8082"),
		"conf.d/a.yaml":       appFile("a", "8081"),
		"conf.d/c.yaml":       appFile("c", "8083"),
		"conf.d/.hidden.yaml": "not: an app\n",
		"conf.d/notes.txt":    "ignored",
		"conf.d/sub.yaml/x":   "folders are skipped even when named *.yaml",
		"single/one.conf":     appFile("one", "8084"),
		"single/ignored.yaml": appFile("ignored", "8085"),
	})
	c, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"inline", "a", "b", "c", "one"}; !reflect.DeepEqual(names(c), want) {
		t.Errorf("apps = %v, want %v", names(c), want)
	}
	if want := []string{filepath.Join(dir, "conf.d"), filepath.Join(dir, "single/one.conf")}; !reflect.DeepEqual(c.AppsInclude, want) {
		t.Errorf("AppsInclude = %v, want %v", c.AppsInclude, want)
	}
	if got, want := c.App("b").Source, filepath.Join(dir, "conf.d/b.yml")+":1"; got != want {
		t.Errorf("Source = %s, want %s", got, want)
	}
}

// TestIncludeEmptyFolder is fine: apps may come later with `update`.
func TestIncludeEmptyFolder(t *testing.T) {
	inTempDir(t, map[string]string{FileName: "apps_include: [conf.d]\n", "conf.d/": ""})
	c, err := Load(".")
	if err != nil || len(c.Apps) != 0 {
		t.Fatalf("got %v, %v", c, err)
	}
}

// TestIncludedAppInheritsGlobals: included apps inherit like inline ones.
func TestIncludedAppInheritsGlobals(t *testing.T) {
	inTempDir(t, map[string]string{
		FileName: "user: {username: root}\nlogger: {log_dir: /tmp/g, max_log_size: 9}\napps_include: [x.yaml]\n",
		"x.yaml": "name: x\ncommand: run {port}\n",
	})
	c, err := Load(".")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Apps[0]
	if a.User != "root" || a.Stdout.Path != "/tmp/g/app_x.out" || a.Stdout.MaxSizeMB != 9 {
		t.Errorf("got %+v", a)
	}
}
