package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what one config file may hold, so that a path such as
// /dev/zero given by mistake fails fast instead of eating memory.
const maxFileSize = 1 << 20

// readFile reads a regular config file of at most maxFileSize bytes.
// It opens without blocking, so that a FIFO given by mistake is reported
// instead of hanging Load until something writes to it.
func readFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// syntaxError is YAML that does not parse; Line is 0 when yaml.v3 gave none.
type syntaxError struct {
	Line int
	Msg  string
}

func (e *syntaxError) Error() string { return e.Msg }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseDocs parses every YAML document in data. Documents that are empty
// (only comments, or "---" alone) are left out.
func parseDocs(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a config file must
		// never take the daemon down, so a parser panic is a syntax error.
		if r := recover(); r != nil {
			docs, err = nil, &syntaxError{Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, toSyntaxError(err)
		}
		if len(doc.Content) > 0 && !isNull(doc.Content[0]) {
			docs = append(docs, doc.Content[0])
		}
	}
}

func toSyntaxError(err error) *syntaxError {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return &syntaxError{Msg: "bad YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	return &syntaxError{Line: line, Msg: "bad YAML: " + msg[len(m[0]):]}
}
