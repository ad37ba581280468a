package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/web"
)

// Every page answers with the application's index.html and a strict
// Content-Security-Policy; the assets are served with their types; the
// asset directory is not listed; unknown paths are not pages.
func TestMountServesPagesAndAssets(t *testing.T) {
	mux := http.NewServeMux()
	if err := web.Mount(mux); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for _, p := range []string{"/", "/executions", "/executions/42", "/programs", "/secrets", "/fees"} {
		resp, body := get(p)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<script type="module" src="/ui/assets/app.js">`) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("%s: %d %v %.80q", p, resp.StatusCode, resp.Header, body)
		}
	}
	for path, typ := range map[string]string{"/ui/assets/app.js": "javascript", "/ui/assets/style.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), typ) || len(body) < 100 ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	for _, p := range []string{"/ui/assets/", "/ui/assets/index.html", "/executions/42/x", "/nope", "/ui/assets/../web.go"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}
