package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// csp keeps the pages to their own origin: no inline script, no third
// party, no framing.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Assets returns the embedded files (index.html, *.js, *.css).
func Assets() (fs.FS, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web UI assets: %w", err)
	}
	return sub, nil
}

// Mount registers the pages and /ui/assets/ on mux. Besides /, the pages
// (stable URLs, "{id}" a request id) answer with the same index.html.
func Mount(mux *http.ServeMux) error {
	assets, err := Assets()
	if err != nil {
		return err
	}
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		return fmt.Errorf("web UI assets: %w", err)
	}
	page := func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		secure(h)
		_, _ = w.Write(index)
	}
	mux.HandleFunc("GET /{$}", page)
	for _, p := range []string{"/executions", "/executions/{id}", "/programs", "/secrets", "/fees"} {
		mux.HandleFunc("GET "+p, page)
	}
	// Embedded files have no modification time; a content hash as ETag
	// lets a browser revalidate with a 304 instead of downloading again.
	etags := map[string]string{}
	if err := fs.WalkDir(assets, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/ui/assets/"+path] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	}); err != nil {
		return fmt.Errorf("web UI assets: %w", err)
	}
	files := http.StripPrefix("/ui/assets/", http.FileServerFS(assets))
	mux.Handle("GET /ui/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, "index.html") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		// Revalidated on each load: a new binary may serve new files.
		h.Set("Cache-Control", "no-cache")
		if tag, ok := etags[r.URL.Path]; ok {
			h.Set("ETag", tag)
		}
		secure(h)
		files.ServeHTTP(w, r)
	}))
	return nil
}

func secure(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
