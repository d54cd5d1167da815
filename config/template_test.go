package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTemplates: src and dst resolve against the working directory, and
// dst keeps its placeholders for procs.
func TestTemplates(t *testing.T) {
	dir := inTempDir(t, map[string]string{
		"nginx.conf.in": "listen {port};\n",
		FileName: "apps:\n" + app("web", "    templates:\n"+
			"      - {src: nginx.conf.in, dst: \"run/nginx-{port}.conf\"}\n"+
			"      - {src: /etc/hostname, dst: \"/tmp/{app}-{port}.txt\"}\n"),
	})
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Template{
		{Src: filepath.Join(dir, "nginx.conf.in"), Dst: filepath.Join(dir, "run/nginx-{port}.conf")},
		{Src: "/etc/hostname", Dst: "/tmp/{app}-{port}.txt"},
	}
	if got := c.Apps[0].Templates; !reflect.DeepEqual(got, want) {
		t.Errorf("templates:\n got %+v\nwant %+v", got, want)
	}
}

// TestTemplateProblems has one case per check of a template.
func TestTemplateProblems(t *testing.T) {
	src := map[string]string{"t.in": "x\n", "dir/": ""}
	cases := []struct {
		name, templates string
		key, msg        string
	}{
		{"not a list", "{src: t.in, dst: x}", "apps[0].templates", "want a list of {src, dst}, got a mapping"},
		{"unknown key", "[{src: t.in, dst: \"x-{port}\", dts: x}]", "apps[0].templates[0].dts", `did you mean "dst"?`},
		{"dst without port", "[{src: t.in, dst: run/x.conf}]", "apps[0].templates[0].dst", "does not hold {port}"},
		{"no dst", "[{src: t.in}]", "apps[0].templates[0].dst", "missing"},
		{"no src", "[{dst: \"x-{port}\"}]", "apps[0].templates[0].src", "missing"},
		{"empty src", "[{src: '', dst: \"x-{port}\"}]", "apps[0].templates[0].src", "must not be empty"},
		{"missing src", "[{src: nope.in, dst: \"x-{port}\"}]", "apps[0].templates[0].src", "nope.in does not exist"},
		{"src a folder", "[{src: dir, dst: \"x-{port}\"}]", "apps[0].templates[0].src", "is not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{FileName: "apps:\n" + app("web", "    templates: "+tc.templates+"\n")}
			for k, v := range src {
				files[k] = v
			}
			_, ps := loadProblems(t, files)
			if len(ps) != 1 || ps[0].Key != tc.key || !strings.Contains(ps[0].Msg, tc.msg) {
				t.Errorf("problems %+v; want one at %s containing %q", ps, tc.key, tc.msg)
			}
		})
	}
}
