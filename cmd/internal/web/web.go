package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"

	"github.com/gracevisor/gracevisor/cmd/internal/reply"
)

//go:embed web
var webFiles embed.FS

// webRoot is the web folder's contents.
var webRoot = mustSub(webFiles, "web")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed above guarantees the folder
	}
	return sub
}

// pageCSP allows the page its own scripts, styles and API and nothing else:
// no inline script, no other origin, no framing, no form posts.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Index serves GET /: the status page. It needs no token; the page
// asks for one when the API answers 401.
func Index(w http.ResponseWriter, r *http.Request) {
	serveWebFile(w, r, "index.html")
}

// Static serves GET /static/{file}: the page's scripts, styles, icon.
func Static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || path.Base(name) != name {
		reply.Error(w, http.StatusNotFound, "not found")
		return
	}
	serveWebFile(w, r, name)
}

func serveWebFile(w http.ResponseWriter, r *http.Request, name string) {
	if fi, err := fs.Stat(webRoot, name); err != nil || fi.IsDir() {
		reply.Error(w, http.StatusNotFound, "not found")
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, webRoot, name)
}
