package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	File string // absolute path of the file the problem is in
	Line int    // 1-based; 0 when the problem has no line (e.g. a missing file)
	Key  string // dotted key path such as "apps[1].stop_signal"; "" for the file as a whole
	Msg  string
	// Err is the underlying error, if any (e.g. one wrapping fs.ErrNotExist),
	// so that errors.Is works through *Error.
	Err error
}

// String formats the problem as "FILE:LINE: KEY: message", leaving out
// the line and key when they are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is what Load returns for a configuration it rejects. It holds every
// problem found, in file order and then line order.
type Error struct {
	Problems []Problem
}

// Error is one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the underlying errors of the problems that have one.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

// problems collects Problems while a configuration is loaded. Files are
// ranked in the order they are first read, so the report follows the order
// the configuration was read in rather than path order.
type problems struct {
	list []Problem
	rank map[string]int
}

// file records that path was read, fixing its place in the report order.
func (ps *problems) file(path string) {
	if ps.rank == nil {
		ps.rank = map[string]int{}
	}
	if _, ok := ps.rank[path]; !ok {
		ps.rank[path] = len(ps.rank)
	}
}

func (ps *problems) add(at pos, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: at.File, Line: at.Line, Key: at.Key, Msg: fmt.Sprintf(format, args...)})
}

// addErr is add for a problem that has an underlying error worth unwrapping.
func (ps *problems) addErr(at pos, err error, format string, args ...any) {
	ps.add(at, format, args...)
	ps.list[len(ps.list)-1].Err = err
}

// err returns nil when nothing was found, else an *Error in report order.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool {
		a, b := ps.list[i], ps.list[j]
		ra, rb := ps.rankOf(a.File), ps.rankOf(b.File)
		if ra != rb {
			return ra < rb
		}
		return a.Line < b.Line
	})
	return &Error{Problems: ps.list}
}

func (ps *problems) rankOf(file string) int {
	if r, ok := ps.rank[file]; ok {
		return r
	}
	return len(ps.rank)
}
