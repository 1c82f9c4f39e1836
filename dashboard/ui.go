package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
)

// ui holds the page (ui/index.html, ui/placeholder.html) and the bundle
// esbuild writes to ui/dist (git-ignored; `make build` or `npm --prefix web
// run build` makes it). Without the bundle / serves a page that says how to
// build it.
//
//go:embed all:ui
var ui embed.FS

// Bundle is the entry point of the built bundle.
const Bundle = "ui/dist/app.js"

// HasBundle reports whether the binary embeds the built page.
func HasBundle() bool {
	_, err := fs.Stat(ui, Bundle)
	return err == nil
}

// asset is a file of the bundle, with its gzip form and an ETag.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

var (
	assetsOnce sync.Once
	assets     map[string]*asset // by name under ui/dist
)

func loadAssets() {
	assets = map[string]*asset{}
	fs.WalkDir(ui, "ui/dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := fs.ReadFile(ui, p)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		a := &asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: contentType(p)}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b) {
			a.gz = buf.Bytes()
		}
		assets[strings.TrimPrefix(p, "ui/dist/")] = a
		return nil
	})
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".map", ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// securityHeaders are sent with the page: it loads nothing but its own
// bundle and talks to nothing but the appliance.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	assetsOnce.Do(loadAssets)
	name := "ui/index.html"
	if assets["app.js"] == nil {
		name = "ui/placeholder.html"
	}
	b, err := fs.ReadFile(ui, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// Cache-busting: the bundle's URLs carry their content hash.
	for _, f := range []string{"app.js", "app.css"} {
		if a := assets[f]; a != nil {
			b = bytes.ReplaceAll(b, []byte("/ui/"+f+`"`), []byte("/ui/"+f+"?v="+strings.Trim(a.etag, `"`)+`"`))
		}
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.Write(b)
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	assetsOnce.Do(loadAssets)
	a := assets[strings.TrimPrefix(r.URL.Path, "/ui/")]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.Write(body)
}

func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}
