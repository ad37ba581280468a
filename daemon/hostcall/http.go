package hostcall

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outlayer/outlayer/egress"
	"github.com/outlayer/outlayer/exec/hostabi"
)

// fetch answers http_fetch: fields [method, url, headers, body] in, fields
// [status, headers, body] out.
func (s *Session) fetch(ctx context.Context, args [][]byte) hostabi.Reply {
	if s.cfg.HTTP == nil {
		return hostabi.Errorf(hostabi.Unavailable, "outbound HTTP is not available to this run")
	}
	if len(args) != 1 {
		return hostabi.Errorf(hostabi.BadInput, "http_fetch takes one request")
	}
	f, err := hostabi.SplitFields(args[0])
	if err != nil || len(f) != 4 {
		return hostabi.Errorf(hostabi.BadInput, "the request is not the four fields method, url, headers, body")
	}
	method, rawURL := string(f[0]), string(f[1])
	if method == "" {
		method = http.MethodGet
	}
	if !validMethod(method) {
		return hostabi.Errorf(hostabi.BadInput, "%q is not an HTTP method", method)
	}
	header, err := parseHeaders(string(f[2]))
	if err != nil {
		return hostabi.Errorf(hostabi.BadInput, "%v", err)
	}
	lim := s.limits
	switch {
	case s.httpCalls >= lim.HTTPCalls:
		return hostabi.Errorf(hostabi.Limit, "a run may make at most %d HTTP requests", lim.HTTPCalls)
	case len(f[3]) > lim.HTTPRequestBytes:
		return hostabi.Errorf(hostabi.Limit, "the request body is %d bytes, above the limit of %d", len(f[3]), lim.HTTPRequestBytes)
	case s.httpBytes >= lim.HTTPTotalBytes:
		return hostabi.Errorf(hostabi.Limit, "the run already received %d bytes over HTTP, its limit", s.httpBytes)
	case s.httpTime >= lim.HTTPTotalTime:
		return hostabi.Errorf(hostabi.Limit, "the run already spent %s on HTTP, its limit", lim.HTTPTotalTime)
	}
	s.httpCalls++
	req := &egress.Request{Method: method, URL: rawURL, Header: header, Body: f[3],
		AllowHost: s.allowHost,
		MaxBytes:  min(lim.HTTPResponseBytes, lim.HTTPTotalBytes-s.httpBytes),
		Timeout:   min(lim.HTTPCallTimeout, lim.HTTPTotalTime-s.httpTime)}
	start := time.Now()
	resp, err := s.cfg.HTTP.Fetch(ctx, req)
	s.httpTime += time.Since(start)
	if err != nil {
		return hostabi.Errorf(fetchCode(ctx, err), "%v", err)
	}
	s.httpBytes += int64(len(resp.Body))
	return hostabi.Reply{Data: hostabi.AppendFields(nil, strconv.AppendInt(nil, int64(resp.Status), 10),
		[]byte(formatHeaders(resp.Header)), resp.Body)}
}

// allowHost enforces the run's host list (before DNS; egress asks it for
// every redirect too).
func (s *Session) allowHost(host string) error {
	if s.cfg.Hosts == nil {
		return nil
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range s.cfg.Hosts {
		if h == strings.TrimSuffix(strings.ToLower(a), ".") {
			return nil
		}
	}
	if len(s.cfg.Hosts) == 0 {
		return fmt.Errorf("%s: this program may reach no host (its manifest declares none)", host)
	}
	return fmt.Errorf("%s is not among the hosts this program may reach (%s)", host, strings.Join(s.cfg.Hosts, ", "))
}

// fetchCode classifies a fetch error for the program.
func fetchCode(ctx context.Context, err error) hostabi.Code {
	switch {
	case errors.Is(err, egress.ErrForbiddenHost), errors.Is(err, egress.ErrForbiddenAddress), errors.Is(err, egress.ErrForbiddenScheme):
		return hostabi.Denied
	case errors.Is(err, egress.ErrTooLarge), errors.Is(err, egress.ErrTooManyRedirects):
		return hostabi.Limit
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return hostabi.Limit
	}
	return hostabi.Failed
}

func validMethod(m string) bool {
	for _, c := range m {
		if c < '!' || c > '~' || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	return m != ""
}

// parseHeaders reads "Name: value" lines.
func parseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !validMethod(name) {
			return nil, fmt.Errorf("header line %q is not \"Name: value\"", line)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("header %s has a control character in its value", name)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// formatHeaders writes "Name: value" lines, names sorted, so equal answers
// encode equally.
func formatHeaders(h http.Header) string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		for _, v := range h[n] {
			b.WriteString(n + ": " + v + "\n")
		}
	}
	return b.String()
}
