package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file is an app's templates: files rendered with the instance's port
// before each start, for servers that read their port from a config file
// (nginx, pgbouncer, HAProxy). Its type, schema, defaults and checks.

// Template is one file procs renders before each start of an instance:
// Src's text with {port}, {instance} and {app} replaced, written to Dst
// with the same replaced.
type Template struct {
	Src string // absolute
	Dst string // absolute; holds {port}, so each instance has its own file
}

type rawTemplate struct {
	pos
	Src, Dst val[string]
}

func (d *decoder) templates(dst *[]rawTemplate) decodeFn {
	return func(v *yaml.Node, at pos) {
		v = deref(v)
		if isNull(v) {
			return
		}
		if v.Kind != yaml.SequenceNode {
			d.probs.add(at, "want a list of {src, dst}, got %s", describe(v))
			return
		}
		for i, item := range v.Content {
			t := rawTemplate{pos: d.posOf(item, fmt.Sprintf("%s[%d]", at.Key, i))}
			d.mapping(item, t.pos, fields{"src": d.str(&t.Src), "dst": d.str(&t.Dst)})
			*dst = append(*dst, t)
		}
	}
}

func resolveTemplates(abs func(string) string, ts []rawTemplate) []Template {
	var out []Template
	for _, t := range ts {
		out = append(out, Template{Src: abs(t.Src.V), Dst: abs(t.Dst.V)})
	}
	return out
}

// templates checks that each src is a readable file and each dst holds
// {port}: during a reload the old and the new instance run side by side,
// and each must keep its own file.
func (v *validator) templates(ts []rawTemplate) {
	for _, t := range ts {
		switch {
		case !t.Src.Set && !t.Src.Bad:
			v.probs.add(t.pos.child("src"), "missing; a template needs src and dst")
		case t.Src.Set && strings.TrimSpace(t.Src.V) == "":
			v.probs.add(t.Src.pos, "must not be empty")
		case t.Src.Set:
			v.templateSrc(t.Src)
		}
		switch {
		case !t.Dst.Set && !t.Dst.Bad:
			v.probs.add(t.pos.child("dst"), "missing; a template needs src and dst")
		case t.Dst.Set && !strings.Contains(t.Dst.V, "{port}"):
			v.probs.add(t.Dst.pos, "%q does not hold {port}; the old and the new instance of a reload each need their own file", short(t.Dst.V))
		}
	}
}

func (v *validator) templateSrc(src val[string]) {
	fi, err := os.Stat(v.abs(src.V))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.probs.add(src.pos, "%s does not exist", src.V)
	case err != nil:
		v.probs.addErr(src.pos, err, "%v", err)
	case !fi.Mode().IsRegular():
		v.probs.add(src.pos, "%s is not a regular file", src.V)
	}
}
