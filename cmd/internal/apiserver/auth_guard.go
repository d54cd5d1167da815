package apiserver

import (
	"github.com/gracevisor/gracevisor/cmd/internal/api"
	"github.com/gracevisor/gracevisor/cmd/internal/reply"
	"net/http"
	"net/url"
	"strings"
)

// guard enforces Security in front of every handler: the Host header on
// a loopback TCP bind, the Origin of non-GET requests, and the token over
// TCP on everything but the page itself (publicPath): the API, /metrics and
// any path added later. Every refusal goes to refusals, which counts it and
// logs who was refused, at a bounded rate.
func (s *Security) guard(next http.Handler, refusals *RefusalLog) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		code, reason, msg := s.refusal(r, peerOf(r))
		if code != 0 {
			refusals.refuse(r, code, reason, msg)
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gracevisor"`)
			}
			reply.Error(w, code, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal says why a request is refused: the status code, the reason (a
// label of gracevisor_api_refused_total) and the message; or code 0.
func (s *Security) refusal(r *http.Request, p peer) (code int, reason, msg string) {
	if p.unix {
		return 0, "", "" // the socket's mode and owner decided who may connect
	}
	if r.URL.Path == api.PathHealth && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		// One word of state for balancers, which often send no Host (HAProxy's
		// default check is HTTP/1.0): nothing a rebinding page could use.
		return 0, "", ""
	}
	if s.loopbackTCP && !s.hostHeaderOK(r.Host) {
		return http.StatusForbidden, reasonHost, "Host " + quote(r.Host) + " is not a loopback name; the control API answers only to localhost, 127.0.0.1 or [::1] (DNS rebinding protection)"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
		return http.StatusForbidden, reasonOrigin, "cross-origin request from " + quote(r.Header.Get("Origin")) + " refused"
	}
	if s.hasToken && !publicPath(r.URL.Path) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		switch {
		case !ok:
			return http.StatusUnauthorized, reasonNoToken, "missing token: send Authorization: Bearer <the token in rpc.token_file>"
		case !s.tokenOK(tok):
			return http.StatusUnauthorized, reasonWrongToken, "wrong token"
		}
	}
	return 0, "", ""
}

// publicPath reports whether a path is the status page or one of its static
// files (they hold no data, and the page must load to ask for the token),
// or /healthz, which says only whether the daemon accepts, for balancers.
func publicPath(p string) bool {
	return p == "/" || p == api.PathHealth || strings.HasPrefix(p, "/static/")
}

// bearer extracts the token from an Authorization header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// sameOrigin reports whether a request carries no Origin (curl,
// gracevisorctl) or one whose host is the Host we were addressed as: what
// a browser sends for our own page's fetches.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// setSecurityHeaders keeps every answer out of other sites' frames and
// sniffers; the page's own CSP is set where it is served.
func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}
