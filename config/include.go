package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// includes reads the app files that apps_include names, in order. It
// returns the absolute include paths and the apps, one per file.
func (l *loader) includes(entries list[string]) (paths []string, apps []rawApp) {
	for _, e := range entries.Items {
		if strings.TrimSpace(e.V) == "" {
			l.probs.add(e.pos, "must not be empty")
			continue
		}
		path := l.abs(e.V)
		paths = append(paths, path)
		files, err := appFiles(path)
		if err != nil {
			l.probs.addErr(e.pos, err, "include path %s: %s", path, reason(err))
			continue
		}
		for _, f := range files {
			if a, ok := l.appFile(f, e.pos); ok {
				apps = append(apps, a)
			}
		}
	}
	return paths, apps
}

// appFiles lists the files an include path names: for a folder, its
// *.yaml and *.yml files sorted by name (hidden files and sub-folders
// left out); otherwise the path itself.
func appFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || ext != ".yaml" && ext != ".yml" {
			continue
		}
		full := filepath.Join(path, name)
		if st, err := os.Stat(full); err == nil && st.IsDir() {
			continue
		}
		files = append(files, full)
	}
	return files, nil
}

// appFile reads one included file, which must hold exactly one app as a
// mapping. Problems with the file as a whole are reported at the
// apps_include entry (from) that brought it in.
func (l *loader) appFile(file string, from pos) (rawApp, bool) {
	l.probs.file(file)
	data, err := readFile(file)
	if err != nil {
		l.probs.addErr(from, err, "cannot read %s: %s", file, reason(err))
		return rawApp{}, false
	}
	docs, err := parseDocs(data)
	var se *syntaxError
	if errors.As(err, &se) {
		l.probs.add(pos{File: file, Line: se.Line}, "%s", se.Msg)
		return rawApp{}, false
	}
	switch {
	case len(docs) == 0:
		l.probs.add(from, "%s is empty; an included file holds one app", file)
		return rawApp{}, false
	case len(docs) > 1:
		l.probs.add(from, "%s holds %d apps (a second YAML document starts at line %d); an included file holds one app",
			file, len(docs), docs[1].Line)
		return rawApp{}, false
	}
	root := deref(docs[0])
	if root != nil && root.Kind == yaml.SequenceNode {
		l.probs.add(from, "%s holds a list; an included file holds one app, written as a mapping (name: …, command: …)", file)
		return rawApp{}, false
	}
	return newDecoder(file, &l.probs).app(docs[0], pos{File: file, Line: docs[0].Line}), true
}
