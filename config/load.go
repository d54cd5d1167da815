package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"
)

const (
	// DefaultDir is where gracevisord looks for its config without --conf.
	DefaultDir = "/etc/gracevisor"
	// FileName is the main config file inside the config directory.
	FileName = "gracevisor.yaml"
)

// Load reads dir/gracevisor.yaml and the app files its apps_include names,
// and returns the resolved configuration.
//
// Relative paths in the files, and dir itself, resolve against the process's
// working directory, as in the original gracevisor. When anything is wrong,
// Load returns a nil *Config and an *Error listing every problem found;
// a missing gracevisor.yaml is one such problem, and errors.Is(err,
// fs.ErrNotExist) holds for it.
func Load(dir string) (*Config, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("config: working directory: %w", err)
	}
	l := &loader{cwd: cwd}
	absDir := l.abs(dir)
	file := filepath.Join(absDir, FileName)
	rc, ok := l.mainFile(file)
	if !ok {
		return nil, l.probs.err()
	}
	includes, included := l.includes(rc.AppsInclude)
	apps := slices.Concat(rc.Apps, included)
	c := resolve(l.abs, &rc, apps)
	c.Dir, c.File, c.AppsInclude = absDir, file, includes
	validate(c, &rc, apps, &l.probs, l.abs)
	if err := l.probs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// loader holds the state of one Load: the working directory that relative
// paths resolve against, and the problems found so far.
type loader struct {
	cwd   string
	probs problems
}

// abs makes path absolute against the working directory Load started in.
func (l *loader) abs(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(l.cwd, path)
}

// mainFile reads and decodes gracevisor.yaml. ok is false when there is
// nothing to go on (missing file, bad YAML); other problems are recorded
// and decoding goes on, so that one run reports them all.
func (l *loader) mainFile(file string) (c rawConfig, ok bool) {
	doc, ok := l.mainDoc(file)
	switch {
	case !ok:
		return c, false
	case doc == nil:
		return rawConfig{pos: pos{File: file, Line: 1}}, true
	}
	return newDecoder(file, &l.probs).config(doc), true
}

// mainDoc reads and parses gracevisor.yaml into its one document; doc is
// nil for an empty file. ok is false when there is nothing to go on
// (missing file, bad YAML).
func (l *loader) mainDoc(file string) (doc *yaml.Node, ok bool) {
	l.probs.file(file)
	at := pos{File: file}
	data, err := readFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		l.probs.addErr(at, err, "config file not found (gracevisord --conf DIR reads DIR/%s)", FileName)
		return nil, false
	}
	if err != nil {
		l.probs.addErr(at, err, "cannot read config file: %s", reason(err))
		return nil, false
	}
	docs, err := parseDocs(data)
	var se *syntaxError
	if errors.As(err, &se) {
		l.probs.add(pos{File: file, Line: se.Line}, "%s", se.Msg)
		return nil, false
	}
	if len(docs) == 0 {
		return nil, true
	}
	if len(docs) > 1 {
		l.probs.add(pos{File: file, Line: docs[1].Line}, "a second YAML document starts here; %s is one document", FileName)
	}
	return docs[0], true
}

// reason is err without the path that os errors repeat.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
