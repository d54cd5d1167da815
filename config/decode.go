package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits that keep hostile input (aliases and merge keys that fan out) cheap.
const (
	maxAliasHops   = 16
	maxMergeDepth  = 8
	maxMergeBudget = 1000 // merged mappings one file may expand in total
)

// decoder walks the YAML node tree of one file into raw structs, by a schema
// of known keys per mapping. It never stops at a problem: it records it and
// goes on with the next key, so one run reports everything.
type decoder struct {
	file        string
	probs       *problems
	mergeBudget int
}

func newDecoder(file string, ps *problems) *decoder {
	return &decoder{file: file, probs: ps, mergeBudget: maxMergeBudget}
}

// decodeFn decodes the value node of a key written at position at.
type decodeFn func(v *yaml.Node, at pos)

// fields is the schema of one mapping: each known key and its decoder.
type fields map[string]decodeFn

// pair is one key and its value; name is the key's text.
type pair struct {
	name string
	k, v *yaml.Node
}

func (d *decoder) posOf(n *yaml.Node, key string) pos {
	return pos{File: d.file, Line: n.Line, Key: key}
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasHops; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping decodes n key by key with fs. A null n is an empty mapping.
// It reports a value that is not a mapping, unknown keys (suggesting the
// nearest known one) and repeated keys.
func (d *decoder) mapping(n *yaml.Node, at pos, fs fields) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.probs.add(at, "want a mapping, got %s", describe(n))
		return
	}
	for _, p := range d.pairs(n, at, 0) {
		kat := d.posOf(p.k, at.child(p.name).Key)
		decode, ok := fs[p.name]
		if !ok {
			d.probs.add(kat, "unknown key%s", suggest(p.name, fs))
			continue
		}
		decode(p.v, kat)
	}
}

// pairs lists n's key/value pairs with merge keys (<<) expanded: written
// keys win over merged ones, and earlier merged mappings over later ones.
func (d *decoder) pairs(n *yaml.Node, at pos, depth int) []pair {
	var out []pair
	var merges []*yaml.Node
	seen := map[string]int{} // key → line it was first written on
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		kn := deref(k)
		if kn == nil || kn.Kind != yaml.ScalarNode || isNull(kn) {
			d.probs.add(d.posOf(k, at.Key), "want a plain key, got %s", describe(kn))
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			d.probs.add(d.posOf(k, at.child(kn.Value).Key), "key repeated (first written at line %d)", line)
			continue
		}
		seen[kn.Value] = k.Line
		out = append(out, pair{name: kn.Value, k: k, v: v})
	}
	for _, m := range merges {
		out = d.merge(out, seen, m, at, depth)
	}
	return out
}

// merge adds the pairs of the mapping(s) that a merge key names to out,
// skipping keys already present.
func (d *decoder) merge(out []pair, seen map[string]int, m *yaml.Node, at pos, depth int) []pair {
	m = deref(m)
	srcs := []*yaml.Node{m}
	if m != nil && m.Kind == yaml.SequenceNode {
		srcs = m.Content
	}
	for _, src := range srcs {
		src = deref(src)
		if src == nil || src.Kind != yaml.MappingNode {
			d.probs.add(d.posOf(m, at.child("<<").Key), "want a mapping to merge, got %s", describe(src))
			continue
		}
		if depth >= maxMergeDepth || d.mergeBudget <= 0 {
			d.probs.add(d.posOf(src, at.child("<<").Key), "merge keys nest or repeat too much")
			return out
		}
		d.mergeBudget--
		for _, p := range d.pairs(src, at, depth+1) {
			if _, ok := seen[p.name]; !ok {
				seen[p.name] = p.k.Line
				out = append(out, p)
			}
		}
	}
	return out
}

// scalar returns the scalar behind v; ok is false when v is null (not
// written) or not a scalar (reported, and bad is true).
func (d *decoder) scalar(v *yaml.Node, at pos, want string) (s *yaml.Node, ok, bad bool) {
	v = deref(v)
	if isNull(v) {
		return nil, false, false
	}
	if v.Kind != yaml.ScalarNode {
		d.probs.add(at, "want %s, got %s", want, describe(v))
		return nil, false, true
	}
	return v, true, false
}

func (d *decoder) str(dst *val[string]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, "a string")
		*dst = val[string]{pos: at, Set: ok, Bad: bad}
		if ok {
			dst.V = s.Value
		}
	}
}

func (d *decoder) int(dst *val[int]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, "an integer")
		*dst = val[int]{pos: at, Set: ok, Bad: bad}
		if !ok {
			return
		}
		if s.ShortTag() != "!!int" || s.Decode(&dst.V) != nil {
			d.probs.add(at, "want an integer, got %s", describe(s))
			dst.Set, dst.Bad = false, true
		}
	}
}

// float decodes a number; an integer is a number too.
func (d *decoder) float(dst *val[float64]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, "a number")
		*dst = val[float64]{pos: at, Set: ok, Bad: bad}
		if !ok {
			return
		}
		if tag := s.ShortTag(); tag != "!!int" && tag != "!!float" || s.Decode(&dst.V) != nil {
			d.probs.add(at, "want a number, got %s", describe(s))
			dst.Set, dst.Bad = false, true
		}
	}
}

func (d *decoder) timeout(dst *val[time.Duration]) decodeFn {
	return func(v *yaml.Node, at pos) {
		s, ok, bad := d.scalar(v, at, timeoutWant)
		*dst = val[time.Duration]{pos: at, Set: ok, Bad: bad}
		if !ok {
			return
		}
		t, err := parseTimeout(s)
		if err != nil {
			d.probs.add(at, "%v", err)
			dst.Set, dst.Bad = false, true
			return
		}
		dst.V = t
	}
}

// strs decodes a list of strings; a null item is reported, not skipped.
func (d *decoder) strs(dst *list[string]) decodeFn {
	return func(v *yaml.Node, at pos) {
		*dst = list[string]{pos: at}
		v = deref(v)
		if isNull(v) {
			return
		}
		if v.Kind != yaml.SequenceNode {
			d.probs.add(at, "want a list of strings, got %s", describe(v))
			return
		}
		dst.Set = true
		for i, item := range v.Content {
			iat := d.posOf(item, fmt.Sprintf("%s[%d]", at.Key, i))
			if isNull(deref(item)) {
				d.probs.add(iat, "want a string, got null")
				continue
			}
			var it val[string]
			d.str(&it)(item, iat)
			if it.Set {
				dst.Items = append(dst.Items, it)
			}
		}
	}
}
