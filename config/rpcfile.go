package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// What gracevisord and gracevisorctl both read from the rpc section: where
// the control API is, and the token that guards it. Both go through these
// functions, so the two can never disagree about a default or a format.

// ErrEmptyToken is wrapped by ReadToken for a token file with no token.
var ErrEmptyToken = errors.New("empty token file")

// ReadToken reads a token file (rpc.token_file, or gracevisorctl's
// --token-file): the token is its first line, trimmed. An unreadable file
// returns the os error; a file without a token wraps ErrEmptyToken.
func ReadToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("%w: %s", ErrEmptyToken, path)
	}
	return tok, nil
}

// DefaultRPC is the rpc section of a config that does not set one.
func DefaultRPC() RPC {
	return resolveRPC(filepath.Clean, &rawRPC{})
}

// LoadRPC reads only the rpc section of dir/gracevisor.yaml, resolved as
// Load resolves it, and ignores the rest of the file. gracevisorctl uses it
// when Load fails: the daemon still runs its last good config, and the
// client must reach it (`update` reports the problems itself). Problems in
// the rpc section itself, a missing file (errors.Is fs.ErrNotExist) and
// bad YAML are an *Error.
func LoadRPC(dir string) (RPC, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return RPC{}, fmt.Errorf("config: working directory: %w", err)
	}
	l := &loader{cwd: cwd}
	file := filepath.Join(l.abs(dir), FileName)
	doc, ok := l.mainDoc(file)
	var raw rawRPC
	if root := deref(doc); ok && root != nil && root.Kind == yaml.MappingNode {
		d := newDecoder(file, &l.probs)
		for _, p := range d.pairs(root, pos{File: file}, 0) {
			if p.name == "rpc" {
				d.rpc(&raw)(p.v, d.posOf(p.k, "rpc"))
			}
		}
	}
	if err := l.probs.err(); err != nil {
		return RPC{}, err
	}
	return resolveRPC(l.abs, &raw), nil
}
