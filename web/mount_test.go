package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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
	// A browser revalidates an asset it has with its ETag: 304, no body.
	resp, _ := get("/ui/assets/app.js")
	tag := resp.Header.Get("ETag")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/assets/app.js", nil)
	req.Header.Set("If-None-Match", tag)
	again, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if tag == "" || again.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidating app.js with ETag %q: %d, want 304", tag, again.StatusCode)
	}
	for _, p := range []string{"/ui/assets/", "/ui/assets/index.html", "/executions/42/x", "/nope", "/ui/assets/../web.go"} {
		if resp, _ := get(p); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// In both themes every colour pair the pages put text on meets WCAG AA
// (4.5:1); the keyboard reaches the skip link first, the skip link moves
// focus to the content, and the theme button works from the keyboard.
func TestContrastAndKeyboard(t *testing.T) {
	chromium(t)
	b, base := pageAlone(t, "/secrets", `#sc-form`)
	const contrast = `(() => {
  const v = (n) => getComputedStyle(document.documentElement).getPropertyValue('--' + n).trim();
  const lum = (hex) => {
    const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const ratio = (a, b) => { const [x, y] = [lum(v(a)), lum(v(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const pairs = [['fg', 'bg'], ['fg', 'card'], ['fg', 'code-bg'], ['muted', 'bg'], ['muted', 'card'], ['accent', 'bg'], ['accent', 'card'],
    ['bg', 'accent'], ['ok', 'ok-bg'], ['bad', 'bad-bg'], ['warn', 'warn-bg'], ['sim', 'sim-bg'], ['bad', 'card'], ['ok', 'card']];
  return pairs.map(([a, b]) => a + ' on ' + b + ' ' + ratio(a, b).toFixed(2));
})()`
	for _, theme := range []string{"light", "dark"} {
		eval[string](b, "theme "+theme, `document.documentElement.dataset.theme = "`+theme+`"`)
		for _, p := range eval[[]string](b, "contrast", contrast) {
			var ratio float64
			if _, err := fmt.Sscanf(p[strings.LastIndex(p, " ")+1:], "%g", &ratio); err != nil || ratio < 4.5 {
				t.Errorf("%s theme: %s (WCAG AA needs 4.5)", theme, p)
			}
		}
	}
	b.do("reload", chromedp.Navigate(base+"/secrets"), chromedp.WaitVisible(css(`#sc-form`)))
	b.do("first Tab", chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, "focus", `document.activeElement.textContent`); got != "Skip to content" {
		t.Fatalf("the first Tab focuses %q, want the skip link", got)
	}
	b.do("Enter on the skip link", chromedp.KeyEvent(kb.Enter))
	if got := eval[string](b, "focus", `document.activeElement.id`); got != "main" {
		t.Fatalf("the skip link moved focus to %q, want main", got)
	}
	b.do("theme from the keyboard", chromedp.Focus(css(`#theme`)), chromedp.KeyEvent(kb.Enter))
	if got := eval[string](b, "theme", `document.documentElement.dataset.theme || "auto"`); got != "light" {
		t.Fatalf("Enter on the theme button: theme %q, want light (auto → light)", got)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("the browser reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
