package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
)

// The HTTP/1.1 the Client speaks: one request per connection
// ("Connection: close"), a body only on POST, and an answer whose body
// is sized by Content-Length, chunked, or ends with the connection. That
// is all gracevisord's server (net/http) sends to such a request.

// request is one API request.
type request struct {
	method string
	host   string // the Host header
	target string // path and query, already escaped
	token  string // "" = no Authorization header
	body   string // sent with Content-Type: application/json when not ""
}

// write sends the request on w.
func (r *request) write(w io.Writer) error {
	if strings.ContainsAny(r.token, "\r\n") {
		return errors.New("the token holds a line break")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gracevisorctl\r\nConnection: close\r\n", r.method, r.target, r.host)
	if r.token != "" {
		b.WriteString("Authorization: Bearer " + r.token + "\r\n")
	}
	if r.body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n" + r.body)
	_, err := io.WriteString(w, b.String())
	return err
}

// response is an answer; its body reads from the connection.
type response struct {
	status     int
	statusLine string // "404 Not Found", for messages
	header     textproto.MIMEHeader
	body       io.Reader
}

// readResponse reads the status line and headers from br.
func readResponse(br *bufio.Reader) (*response, error) {
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, err
	}
	proto, status, _ := strings.Cut(line, " ")
	code, err := strconv.Atoi(strings.SplitN(status, " ", 2)[0])
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("malformed HTTP response %q", clipLine(line))
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("malformed HTTP header: %w", err)
	}
	resp := &response{status: code, statusLine: status, header: h, body: br}
	switch {
	case strings.EqualFold(h.Get("Transfer-Encoding"), "chunked"):
		resp.body = &chunkedReader{r: br}
	case h.Get("Content-Length") != "":
		n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad Content-Length %q", h.Get("Content-Length"))
		}
		resp.body = io.LimitReader(br, n)
	}
	return resp, nil
}

func clipLine(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// maxChunkLine bounds a chunk-size line.
const maxChunkLine = 4 << 10

// chunkedReader decodes a chunked body (RFC 9112 section 7.1). The CRLF
// after a chunk's data is read before the next chunk, not right after the
// data, so a followed log's lines reach the reader as soon as they arrive.
type chunkedReader struct {
	r       *bufio.Reader
	left    int64 // bytes of the current chunk not yet read
	started bool  // a chunk was read, so a CRLF precedes the next size line
	err     error // sticky: io.EOF after the last chunk
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.left == 0 && c.err == nil {
		c.err = c.nextChunk()
	}
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// nextChunk reads up to the next chunk's data; io.EOF after the last one.
func (c *chunkedReader) nextChunk() error {
	if c.started {
		if line, err := c.line(); err != nil || line != "" {
			return errors.New("malformed chunked body")
		}
	}
	c.started = true
	line, err := c.line()
	if err != nil {
		return err
	}
	size, _, _ := strings.Cut(line, ";") // chunk extensions are ignored
	n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("malformed chunk size %q", clipLine(line))
	}
	if n == 0 {
		for { // trailer fields, up to the empty line
			if line, err := c.line(); err != nil || line == "" {
				return orEOF(err)
			}
		}
	}
	c.left = n
	return nil
}

func orEOF(err error) error {
	if err != nil {
		return err
	}
	return io.EOF
}

// line reads one CRLF-terminated line, without the CRLF.
func (c *chunkedReader) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(b) > maxChunkLine {
		return "", errors.New("chunk line too long")
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// conn is one connection carrying one exchange; closing the body closes it.
type conn struct {
	net.Conn
	stop func() bool // ends the watch on the caller's context
}

func (c *conn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// body is a response body that closes its connection.
type body struct {
	io.Reader
	c *conn
}

func (b *body) Close() error { return b.c.Close() }
