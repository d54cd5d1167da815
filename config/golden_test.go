package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*/want.json from what Load returns")

// TestGolden loads each testdata/golden/CASE (as the working directory) and
// compares the resolved config, as JSON with the working directory written
// $CWD, with CASE/want.json.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/golden/*/" + FileName)
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, file := range cases {
		dir, err := filepath.Abs(filepath.Dir(file))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Chdir(dir)
			c, err := Load(".")
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := goldenJSON(t, c, dir)
			wantFile := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(wantFile, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run go test ./config -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("resolved config differs from %s (run with -update and review the diff):\n%s", wantFile, got)
			}
		})
	}
}

func goldenJSON(t *testing.T, c *Config, cwd string) []byte {
	t.Helper()
	b, err := json.MarshalIndent(goldenView(reflect.ValueOf(*c), cwd), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// goldenView turns a value into plain JSON-able data that reads well:
// durations as "1.5s", signals by name, embedded structs flattened, and
// the working directory as $CWD so the file does not depend on the checkout.
func goldenView(v reflect.Value, cwd string) any {
	switch x := v.Interface().(type) {
	case time.Duration:
		return x.String()
	case syscall.Signal:
		for name, sig := range stopSignals {
			if sig == x {
				return "SIG" + name
			}
		}
		return int(x)
	case string:
		return strings.ReplaceAll(x, cwd, "$CWD")
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		addFields(m, v, cwd)
		return m
	case reflect.Slice:
		out := []any{}
		for i := range v.Len() {
			out = append(out, goldenView(v.Index(i), cwd))
		}
		return out
	}
	return v.Interface()
}

func addFields(m map[string]any, v reflect.Value, cwd string) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			addFields(m, v.Field(i), cwd)
			continue
		}
		m[f.Name] = goldenView(v.Field(i), cwd)
	}
}
