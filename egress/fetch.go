package egress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// ErrForbiddenHost: the URL's host, or a redirect's, is not one the caller
// allows (Request.AllowHost). It is refused before any DNS lookup.
var ErrForbiddenHost = errors.New("host not allowed")

// Request is one HTTP request for Fetch: any method, headers and body, on
// behalf of a program.
type Request struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	// AllowHost, when set, is asked about the URL's host and every
	// redirect's, before it is resolved; an error refuses the fetch
	// (wrapped in ErrForbiddenHost).
	AllowHost func(host string) error
	// MaxBytes bounds the response body (Config.MaxBytes when 0 or
	// larger).
	MaxBytes int64
	// Timeout bounds the whole fetch (Config.Timeout when 0 or larger).
	Timeout time.Duration
}

// Response is what Fetch got: any status, with its headers and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Fetch sends req under the client's checks (scheme, every dialled address,
// redirects) and the request's own (hosts, size, time). Every status is an
// answer; errors are refusals and failures.
func (c *Client) Fetch(ctx context.Context, req *Request) (*Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, fmt.Errorf("the URL does not parse: %w", err)
	}
	if err := c.checkScheme(u); err != nil {
		return nil, err
	}
	shown := u.Redacted()
	if u.Hostname() == "" {
		return nil, fmt.Errorf("fetching %s: the URL has no host", shown)
	}
	if err := allowed(req.AllowHost, u); err != nil {
		return nil, fmt.Errorf("fetching %s: %w", shown, err)
	}
	maxBytes := c.cfg.MaxBytes
	if req.MaxBytes > 0 && req.MaxBytes < maxBytes {
		maxBytes = req.MaxBytes
	}
	timeout := c.cfg.Timeout
	if req.Timeout > 0 && req.Timeout < timeout {
		timeout = req.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", shown, err)
	}
	for name, values := range req.Header {
		for _, v := range values {
			hreq.Header.Add(name, v)
		}
	}
	hc := *c.hc
	hc.Timeout = timeout
	hc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if err := c.checkRedirect(r, via); err != nil {
			return err
		}
		if err := allowed(req.AllowHost, r.URL); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		return nil
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("fetching %s: %w: %d bytes, above the %d-byte limit", shown, ErrTooLarge, resp.ContentLength, maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: reading the body: %w", shown, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("fetching %s: %w: more than the %d-byte limit", shown, ErrTooLarge, maxBytes)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

func allowed(allow func(string) error, u *url.URL) error {
	if allow == nil {
		return nil
	}
	if err := allow(u.Hostname()); err != nil {
		return fmt.Errorf("%w: %w", ErrForbiddenHost, err)
	}
	return nil
}
