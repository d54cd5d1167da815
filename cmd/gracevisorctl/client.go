package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// dialTimeout bounds connecting to the daemon; requests themselves have no
// timeout because reload blocks until the new instance is ready.
const dialTimeout = 5 * time.Second

// client talks to one daemon's control API. Safe for concurrent use.
type client struct {
	addr  string // for messages: HOST:PORT or unix:/path
	base  string // URL prefix: http://HOST:PORT, or http://localhost on the socket
	token string // sent as Authorization: Bearer; "" = none
	hc    *http.Client
}

func newClient(ep endpoint, token string) *client {
	dialer := &net.Dialer{Timeout: dialTimeout}
	tr := &http.Transport{
		Proxy:       nil, // the daemon is local; never route through HTTP_PROXY
		DialContext: dialer.DialContext,
	}
	base := "http://" + ep.addr
	if ep.network == "unix" {
		path := ep.addr
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		base = "http://localhost"
	}
	return &client{addr: ep.String(), base: base, token: token, hc: &http.Client{Transport: tr}}
}

// call sends a request and decodes the JSON reply into out (nil: discard).
func (c *client) call(ctx context.Context, method, path string, query url.Values, out any) error {
	resp, err := c.send(ctx, method, path, query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return c.notDaemon(resp.Status, err)
	}
	return nil
}

// send returns the response when its status is 2xx; otherwise an error
// carrying the daemon's message and the exit code it means. The caller
// closes the body.
func (c *client) send(ctx context.Context, method, path string, query url.Values) (*http.Response, error) {
	u := c.base + path // path is already escaped (appPath)
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("{}") // state changes take a JSON body; ours has nothing to say
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, withCode(exitUsage, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, withCode(exitFailed, errInterrupted)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, withCode(exitUnreachable, fmt.Errorf("daemon unreachable at %s: %w", c.addr, err))
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.replyError(resp)
}

// replyError turns an error reply into an error with its exit code.
func (c *client) replyError(resp *http.Response) error {
	var body struct {
		Error    string   `json:"error"`
		Problems []string `json:"problems"`
	}
	err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	if err != nil || body.Error == "" {
		return c.notDaemon(resp.Status, err)
	}
	msg := body.Error
	if len(body.Problems) > 0 {
		msg = body.Error + ": " + strings.Join(body.Problems, "\n"+body.Error+": ")
	}
	code := exitFailed
	switch resp.StatusCode {
	case http.StatusNotFound:
		code = exitUnknownApp
	case http.StatusBadRequest, http.StatusForbidden, http.StatusUnsupportedMediaType:
		code = exitUsage
	case http.StatusUnauthorized:
		code = exitUsage
		msg += " (the daemon wants its rpc.token_file token: pass --token-file FILE or --conf DIR)"
	}
	return withCode(code, errors.New(msg))
}

// notDaemon reports a reply that is not from gracevisord's API.
func (c *client) notDaemon(status string, err error) error {
	msg := fmt.Sprintf("unexpected reply from %s (%s); is gracevisord's API listening there?", c.addr, status)
	if err != nil {
		msg += " " + err.Error()
	}
	return withCode(exitUnreachable, errors.New(msg))
}

// appPath is the API path of an operation on one app.
func appPath(name, op string) string {
	p := "/api/v1/apps/" + url.PathEscape(name)
	if op != "" {
		p += "/" + op
	}
	return p
}
