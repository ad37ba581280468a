package httpguard

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func okHandler(called *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		called.Add(1)
		_, _ = w.Write([]byte("ok"))
	})
}

func TestHostAllowList(t *testing.T) {
	var called atomic.Int64
	h := Public(okHandler(&called), []string{"api.node.example"})
	cases := map[string]int{
		"127.0.0.1:8080":         http.StatusOK,
		"[::1]:8080":             http.StatusOK,
		"203.0.113.7":            http.StatusOK,
		"localhost:8080":         http.StatusOK,
		"API.node.example.:443":  http.StatusOK,
		"evil.example:8080":      http.StatusMisdirectedRequest,
		"localhost.evil.example": http.StatusMisdirectedRequest,
		"":                       http.StatusMisdirectedRequest,
	}
	for host, want := range cases {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
	if n := called.Load(); n != 5 {
		t.Fatalf("the handler ran %d times, want 5 (only for allowed hosts)", n)
	}
}

func TestWritesNeedJSON(t *testing.T) {
	var called atomic.Int64
	h := Public(okHandler(&called), nil)
	for ct, want := range map[string]int{
		"text/plain":                        http.StatusUnsupportedMediaType,
		"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType,
		"multipart/form-data; boundary=x":   http.StatusUnsupportedMediaType,
		"":                                  http.StatusUnsupportedMediaType,
		"application/json; charset=utf-8":   http.StatusOK,
		"Application/JSON":                  http.StatusOK,
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/keystore/generate", strings.NewReader("{}"))
		r.Host = "127.0.0.1:8080"
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, w.Code, want)
		}
	}
	if n := called.Load(); n != 2 {
		t.Fatalf("the handler ran %d times, want 2", n)
	}
}

// serve starts a guarded server on loopback and counts open connections.
func serve(t *testing.T, l Limits) (addr string, open *atomic.Int64, peak *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var called atomic.Int64
	srv, lln := Server(okHandler(&called), ln, l, nil)
	open, peak = &atomic.Int64{}, &atomic.Int64{}
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			if v := open.Add(1); v > peak.Load() {
				peak.Store(v)
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	go func() { _ = srv.Serve(lln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), open, peak
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSlowAndIdleConnectionsAreDropped(t *testing.T) {
	l := Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, MaxConns: 1000}
	addr, open, _ := serve(t, l)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var dropped atomic.Int64
	const n = 200
	start := time.Now()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			switch i % 4 {
			case 0: // idle: sends nothing
			case 1: // slowloris: headers one byte at a time, never finished
				go func() {
					req := "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("a", 1000)
					for j := range req {
						select {
						case <-stop:
							return
						case <-time.After(50 * time.Millisecond):
						}
						if _, err := c.Write([]byte{req[j]}); err != nil {
							return
						}
					}
				}()
			case 2: // slow body: headers at once, the body never comes
				_, _ = c.Write([]byte("POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"))
			case 3: // keep-alive: one request, then idle
				_, _ = c.Write([]byte("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Errorf("keep-alive request: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			// The server must close the connection; the client never does.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, c); err == nil || !isTimeout(err) {
				dropped.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	took := time.Since(start)
	if got := dropped.Load(); got != n {
		t.Fatalf("the server dropped %d of %d slow or idle connections", got, n)
	}
	if took > 5*time.Second {
		t.Fatalf("dropping them took %v with sub-second limits", took)
	}
	waitFor(t, 2*time.Second, "connections still open on the server", func() bool { return open.Load() == 0 })
	t.Logf("%d slow or idle connections dropped in %v", n, took.Round(time.Millisecond))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestConnectionCap(t *testing.T) {
	l := Limits{ReadHeaderTimeout: 500 * time.Millisecond, MaxConns: 5}
	addr, open, peak := serve(t, l)
	var held []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr) // completes in the kernel backlog
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	t.Cleanup(func() {
		for _, c := range held {
			_ = c.Close()
		}
	})
	waitFor(t, 2*time.Second, "the server never accepted the first connections", func() bool { return open.Load() == 5 })
	// A real request still gets served once the idle ones time out.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatalf("a real request behind 20 idle connections: %v", err)
	}
	_ = resp.Body.Close()
	if p := peak.Load(); p > 5 {
		t.Fatalf("%d connections were open at once with a cap of 5", p)
	}
}

func TestBodyLimit(t *testing.T) {
	addr, _, _ := serve(t, Limits{MaxBodyBytes: 100})
	resp, err := http.Post("http://"+addr+"/x", "application/json", strings.NewReader(strings.Repeat("x", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 1000-byte body with a 100-byte limit: %s", resp.Status)
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the socket's mode is %v, want 0600", fi.Mode().Perm())
	}
	var called atomic.Int64
	srv, lln := Server(okHandler(&called), ln, Limits{}, nil)
	go func() { _ = srv.Serve(lln) }()
	resp, err := UnixClient(path, 5*time.Second).Get("http://admin/x")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if called.Load() != 1 {
		t.Fatal("the request did not reach the handler over the socket")
	}
	_ = srv.Close()

	// A stale socket (left by a node that died) is replaced.
	stale, err := net.Listen("unix", path)
	if err == nil {
		stale.(*net.UnixListener).SetUnlinkOnClose(false)
		_ = stale.Close()
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("the stale socket is not there to replace: %v", err)
	}
	ln2, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("replacing a stale socket: %v", err)
	}
	_ = ln2.Close()

	// Any other file is left alone.
	other := filepath.Join(dir, "not-a-socket")
	if err := os.WriteFile(other, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(other); err == nil {
		t.Fatal("a regular file was replaced by the socket")
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "keep me" {
		t.Fatalf("the regular file was changed: %q, %v", b, err)
	}
	if _, err := ListenUnix(filepath.Join(dir, strings.Repeat("d", 120))); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an over-long socket path: %v", err)
	}
}
