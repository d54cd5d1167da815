package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load as gracevisor.yaml. Load must never
// panic, and must either return a config that satisfies the rules or an
// *Error whose every problem is one line naming a file. The seed corpus
// (golden configs, every problem case, hostile YAML) runs in plain go test.
func FuzzLoad(f *testing.F) {
	golden, _ := filepath.Glob("testdata/golden/*/" + FileName)
	for _, path := range golden {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, tc := range problemCases() {
		f.Add([]byte(tc.files[FileName]))
	}
	for _, s := range []string{
		"apps: &a [*a]\n",                   // recursive alias
		"apps:\n  - &a {<<: *a, name: x}\n", // merge of an unfinished anchor
		"a: &a {x: 1}\nb: &b {<<: [*a, *a, *a, *a]}\nc: &c {<<: [*b, *b, *b, *b]}\napps:\n  - <<: [*c, *c, *c, *c]\n",
		strings.Repeat("[", 5000) + strings.Repeat("]", 5000), // deep nesting
		"apps:\n  - name: a\n    command: \"\\u0000{port}\"\n",
		"apps_include: [/dev/zero, /proc/self, \"\\u0000\"]\n",
		"\xff\xfe\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(dir)
		if err != nil {
			checkError(t, err)
			return
		}
		checkValid(t, c)
	})
}

func checkError(t *testing.T, err error) {
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) == 0 {
		t.Fatalf("error %T %q is not an *Error with problems", err, err)
	}
	for _, p := range ce.Problems {
		if p.File == "" || p.Line < 0 || p.Msg == "" || strings.Contains(p.String(), "\n") {
			t.Fatalf("malformed problem %#v", p)
		}
	}
}

// checkValid re-checks, independently of validate, rules a loaded config keeps.
func checkValid(t *testing.T, c *Config) {
	if c.PortRange.From < 1 || c.PortRange.From >= c.PortRange.To || c.PortRange.To > 65535 {
		t.Fatalf("bad port range %+v", c.PortRange)
	}
	seen := map[string]bool{}
	for _, a := range c.Apps {
		if !validName(a.Name) || seen[a.Name] || strings.TrimSpace(a.Command) == "" {
			t.Fatalf("bad app %+v", a)
		}
		seen[a.Name] = true
		if a.ExternalPort < 1 || a.ExternalPort > 65535 || a.StartTimeout < 0 || a.StopSignal == 0 {
			t.Fatalf("bad app %+v", a)
		}
		if !filepath.IsAbs(a.Stdout.Path) || !filepath.IsAbs(a.Stderr.Path) || a.Stdout.MaxSizeMB < 1 {
			t.Fatalf("bad app logs %+v", a)
		}
	}
}
