package httpguard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what one client can hold. Zero fields take the defaults.
type Limits struct {
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // whole request, body included; default 15s
	WriteTimeout      time.Duration // default 30s (handlers wait at most 10s upstream)
	IdleTimeout       time.Duration // keep-alive between requests; default 60s
	MaxConns          int           // accepted at once; default 256
	MaxBodyBytes      int64         // default 1 MiB
}

func (l Limits) withDefaults() Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 5 * time.Second
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 15 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 30 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxConns <= 0 {
		l.MaxConns = 256
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	return l
}

// Server returns an http.Server for h under l, and wraps ln so that at
// most l.MaxConns connections are accepted at once (the rest wait in the
// kernel's backlog, costing the process nothing).
func Server(h http.Handler, ln net.Listener, l Limits, log *slog.Logger) (*http.Server, net.Listener) {
	l = l.withDefaults()
	body := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, l.MaxBodyBytes)
			next.ServeHTTP(w, r)
		})
	}
	srv := &http.Server{
		Handler:           body(h),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	}
	return srv, netutil.LimitListener(ln, l.MaxConns)
}

// Public wraps the public API's handler with the browser defences: the
// Host header must be an IP address, localhost, or one of hosts (names the
// operator publishes the API under, compared without port and case), and a
// request that is not GET, HEAD or OPTIONS must say Content-Type
// application/json.
func Public(h http.Handler, hosts []string) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, name := range hosts {
		allowed[strings.ToLower(strings.TrimSuffix(name, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, allowed) {
			refuse(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"host %q is not one this node serves (use its IP address, localhost, or a name the operator configured)", r.Host))
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				refuse(w, http.StatusUnsupportedMediaType, "a write must be sent with Content-Type: application/json")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func hostAllowed(hostport string, allowed map[string]bool) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		// An address cannot be rebound: a page can only send one by
		// having been loaded from it.
		return true
	}
	return allowed[host]
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "{\"error\": %q}\n", msg)
}

// ListenUnix listens on a unix socket at path that only the current user
// can connect to (mode 0600; the caller keeps it in a 0700 directory so no
// one else can reach it even in the instant before the chmod). A stale
// socket left by a node that died is replaced; any other file is not.
func ListenUnix(path string) (net.Listener, error) {
	// sockaddr_un holds 108 bytes with the terminating NUL.
	if len(path) > 107 {
		return nil, fmt.Errorf("admin socket %s: the path is %d bytes, longer than a unix socket allows (107); use a shorter data directory", path, len(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("admin socket %s: a file that is not a socket is in the way", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin socket %s: removing the stale socket: %w", path, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("admin socket %s: restricting it to this user: %w", path, err)
	}
	return ln, nil
}

// UnixClient is an HTTP client that sends every request to the unix
// socket at path, whatever the URL's host (use http://admin/...).
func UnixClient(path string, timeout time.Duration) *http.Client {
	d := net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}
