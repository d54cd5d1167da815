package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// do serves one request with h.
func do(t *testing.T, h http.Handler, method, target string) (*httptest.ResponseRecorder, struct{}) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec, struct{}{}
}

func TestWebPage(t *testing.T) {
	mux := http.NewServeMux() // as cmd/internal/apiserver registers the page
	mux.HandleFunc("GET /{$}", Index)
	mux.HandleFunc("GET /static/{file}", Static)
	var h http.Handler = mux
	rec, _ := do(t, h, "GET", "/")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(body, `<script src="/static/app.js"`) {
		t.Fatalf("GET /: %d %q %.200q", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the page must have no inline script and load nothing from elsewhere")
	}
	for file, ctype := range map[string]string{"app.js": "text/javascript", "app.css": "text/css", "favicon.svg": "image/svg+xml"} {
		rec, _ := do(t, h, "GET", "/static/"+file)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) || rec.Body.Len() == 0 {
			t.Errorf("/static/%s: %d %q", file, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for _, target := range []string{"/static/nope.js", "/static/index.html", "/static/..%2fweb.go", "/static/"} {
		if rec, _ := do(t, h, "GET", target); rec.Code != 404 {
			t.Errorf("%s: %d, want 404", target, rec.Code)
		}
	}
	// The script never writes API data as HTML.
	js, _ := do(t, h, "GET", "/static/app.js")
	if strings.Contains(js.Body.String(), "innerHTML") {
		t.Error("app.js uses innerHTML")
	}
}
