package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// dialTimeout bounds connecting to the daemon; requests themselves have no
// timeout because reload blocks until the new instance is ready.
const dialTimeout = 5 * time.Second

// maxErrorBody bounds the error answer the Client reads.
const maxErrorBody = 1 << 20

// Client talks to one daemon's control API. Every error it returns carries
// an exit code (see Code). Safe for concurrent use.
type Client struct {
	ep    Endpoint
	token string // sent as Authorization: Bearer; "" = none
}

// NewClient returns a client for the daemon at ep that sends token.
func NewClient(ep Endpoint, token string) *Client {
	return &Client{ep: ep, token: token}
}

// Status is GET /api/v1/status: every app, or the named ones.
func (c *Client) Status(ctx context.Context, names ...string) ([]AppStatus, error) {
	var apps []AppStatus
	var q url.Values
	if len(names) > 0 {
		q = url.Values{"app": names}
	}
	return apps, c.call(ctx, "GET", PathStatus, q, &apps)
}

// Do is POST /api/v1/apps/{name}/{op} for op OpStart, OpStop or OpRestart.
func (c *Client) Do(ctx context.Context, op, name string) (OpReport, error) {
	var rep OpReport
	return rep, c.call(ctx, "POST", AppPath(name, op), nil, &rep)
}

// Reload is POST /api/v1/apps/{name}/reload; it returns once the new
// instance serves, or the reload failed (the old one still serves).
func (c *Client) Reload(ctx context.Context, name string) (ReloadResult, error) {
	var res ReloadResult
	return res, c.call(ctx, "POST", AppPath(name, OpReload), nil, &res)
}

// Rollback is POST /api/v1/apps/{name}/rollback: new connections go back
// to the instance before the last reload, while its rollback window is open.
func (c *Client) Rollback(ctx context.Context, name string) (RollbackResult, error) {
	var res RollbackResult
	return res, c.call(ctx, "POST", AppPath(name, OpRollback), nil, &res)
}

// Scale is POST /api/v1/apps/{name}/scale with {"instances": n}: the
// app serves n instances until the next update or upgrade.
func (c *Client) Scale(ctx context.Context, name string, n int) (ScaleResult, error) {
	var res ScaleResult
	body, err := json.Marshal(ScaleRequest{Instances: n})
	if err != nil {
		return res, err
	}
	return res, c.callWith(ctx, "POST", AppPath(name, OpScale), nil, string(body), &res)
}

// Update is POST /api/v1/update.
func (c *Client) Update(ctx context.Context) (Changes, error) {
	var ch Changes
	return ch, c.call(ctx, "POST", PathUpdate, nil, &ch)
}

// Shutdown is POST /api/v1/shutdown; it returns once every app has stopped.
func (c *Client) Shutdown(ctx context.Context) (ShutdownReply, error) {
	var r ShutdownReply
	return r, c.call(ctx, "POST", PathShutdown, nil, &r)
}

// Version is GET /api/v1/version.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	return v, c.call(ctx, "GET", PathVersion, nil, &v)
}

// LogStream is an app's log as the daemon sends it. Close it when done.
type LogStream struct {
	io.ReadCloser
	// Path is the log file; both streams of an app that logs to one file
	// have the same.
	Path string
}

// Logs is GET /api/v1/apps/{name}/logs: the last lines of one stream
// ("stdout" or "stderr") and, with follow, what the app writes next, until
// ctx ends or the daemon goes away.
func (c *Client) Logs(ctx context.Context, app, stream string, lines int, follow bool) (*LogStream, error) {
	q := url.Values{"stream": {stream}, "n": {strconv.Itoa(lines)}}
	if follow {
		q.Set("follow", "1")
	}
	resp, b, err := c.send(ctx, "GET", AppPath(app, OpLogs), q, "")
	if err != nil {
		return nil, err
	}
	return &LogStream{ReadCloser: b, Path: resp.header.Get("X-Log-Path")}, nil
}

// call sends a request and decodes the JSON answer into out.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, out any) error {
	return c.callWith(ctx, method, path, query, "", out)
}

// callWith is call with a JSON body for a POST ("": {}).
func (c *Client) callWith(ctx context.Context, method, path string, query url.Values, body string, out any) error {
	resp, b, err := c.send(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := json.NewDecoder(b).Decode(out); err != nil {
		return c.notDaemon(resp.statusLine, err)
	}
	return nil
}

// send makes one exchange and returns the answer when its status is 2xx;
// otherwise an error carrying the daemon's message and the exit code it
// means. A POST carries reqBody, or {} when it is "". The caller closes the
// body.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, reqBody string) (*response, io.ReadCloser, error) {
	req := &request{method: method, host: c.ep.host(), target: path, token: c.token}
	if len(query) > 0 {
		req.target += "?" + query.Encode()
	}
	if method == "POST" {
		req.body = "{}" // state changes take a JSON body; most have nothing to say
		if reqBody != "" {
			req.body = reqBody
		}
	}
	cn, err := c.dial(ctx)
	var coded *ExitError
	if errors.As(err, &coded) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, c.transportError(ctx, err)
	}
	resp, err := exchange(cn, req)
	if err != nil {
		cn.Close()
		return nil, nil, c.transportError(ctx, err)
	}
	b := &body{Reader: resp.body, c: cn}
	if resp.status/100 == 2 {
		return resp, b, nil
	}
	defer b.Close()
	return nil, nil, c.replyError(resp, b)
}

func exchange(cn *conn, req *request) (*response, error) {
	if err := req.write(cn); err != nil {
		return nil, err
	}
	return readResponse(bufio.NewReader(cn))
}

// dial connects to the daemon (and, with TLS, verifies it); the connection
// closes when ctx ends, which ends a blocked request or a followed log.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	var cfg *tls.Config
	if c.ep.TLS {
		var err error
		if cfg, err = clientTLS(c.ep); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, c.ep.Network, c.ep.Addr)
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		tc := tls.Client(nc, cfg)
		hctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &conn{Conn: nc, stop: context.AfterFunc(ctx, func() { nc.Close() })}, nil
}

// transportError is an error of the exchange itself: Ctrl-C, or a daemon
// that does not answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return WithCode(ExitFailed, ErrInterrupted)
	}
	if hint := tlsHint(c.ep, err); hint != "" {
		return WithCode(ExitUnreachable, fmt.Errorf("daemon at %s not trusted: %w (%s)", c.ep, err, hint))
	}
	return WithCode(ExitUnreachable, fmt.Errorf("daemon unreachable at %s: %w", c.ep, err))
}

// replyError turns an error answer into an error with its exit code.
func (c *Client) replyError(resp *response, b io.Reader) error {
	var body ErrorReply
	raw, err := io.ReadAll(io.LimitReader(b, maxErrorBody))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if resp.status == 400 && bytes.Contains(raw, []byte("HTTP request to an HTTPS server")) {
		return WithCode(ExitUnreachable, fmt.Errorf("the daemon at %s speaks TLS (rpc.tls): pass --ca-file FILE, "+
			"or --rpc https://%s to verify it with the system roots", c.ep, c.ep.Addr))
	}
	if err != nil || body.Error == "" {
		return c.notDaemon(resp.statusLine, err)
	}
	msg := body.Error
	if len(body.Problems) > 0 {
		msg = body.Error + ": " + strings.Join(body.Problems, "\n"+body.Error+": ")
	}
	if resp.status == 401 {
		msg += " (the daemon wants its rpc.token_file token: pass --token-file FILE or --conf DIR)"
	}
	return WithCode(exitForStatus(resp.status), errors.New(msg))
}

// notDaemon reports an answer that is not from gracevisord's API.
func (c *Client) notDaemon(status string, err error) error {
	msg := fmt.Sprintf("unexpected reply from %s (%s); is gracevisord's API listening there?", c.ep, status)
	if err != nil {
		msg += " " + err.Error()
	}
	return WithCode(ExitUnreachable, errors.New(msg))
}
