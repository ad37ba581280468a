package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// The kinds of refusal; test with errors.Is.
var (
	// ErrForbiddenScheme: the URL, or a redirect, is not https (or http
	// where Config.AllowHTTP allows it).
	ErrForbiddenScheme = errors.New("scheme not allowed")
	// ErrForbiddenAddress: the host resolved to an address that is not on
	// the public internet.
	ErrForbiddenAddress = errors.New("address not allowed")
	// ErrTooLarge: the body is longer than Config.MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrTooManyRedirects: more than Config.MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
)

// Defaults for the zero Config fields.
const (
	DefaultMaxBytes     = 32 << 20
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRedirects = 5
)

// Config says what a Client may fetch. The zero value is the production
// setting: https only, public addresses only, the default limits.
type Config struct {
	// AllowHTTP allows plain http:// URLs and redirects (dev mode).
	AllowHTTP bool
	// AllowLoopback allows dialling loopback addresses (dev mode, where the
	// programs are served from the developer's own machine). Private,
	// link-local and the other special ranges stay refused.
	AllowLoopback bool
	// MaxBytes bounds a body (DefaultMaxBytes when 0).
	MaxBytes int64
	// Timeout bounds a whole fetch, redirects and body included
	// (DefaultTimeout when 0).
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed (DefaultMaxRedirects when
	// 0; negative follows none).
	MaxRedirects int
}

// Client fetches URLs under a Config. It is safe for concurrent use.
type Client struct {
	cfg     Config
	hc      *http.Client
	special []netip.Prefix
	// permit, set only by tests, lets one exact address through the
	// address check so that a test server on loopback can stand in for
	// a public host.
	permit func(netip.AddrPort) bool
}

// options are the test-only knobs; production code cannot reach them.
type options struct {
	resolver *net.Resolver
	rootCAs  *tls.Config
}

// New returns a Client for cfg.
func New(cfg Config) *Client { return newClient(cfg, options{}) }

func newClient(cfg Config, o options) *Client {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	c := &Client{cfg: cfg, special: specialPrefixes()}
	dialer := &net.Dialer{
		Timeout:  10 * time.Second,
		Resolver: o.resolver,
		// Control runs for each address the name resolved to, just
		// before connecting: the check sees what is really dialled, so
		// neither DNS tricks nor IPv4-mapped forms get past it.
		Control: c.control,
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, unchecked
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
	if o.rootCAs != nil {
		tr.TLSClientConfig = o.rootCAs
	}
	c.hc = &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: c.checkRedirect,
	}
	return c
}

func (c *Client) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return fmt.Errorf("%w: network %q", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address and port", ErrForbiddenAddress, address)
	}
	if c.permit != nil && c.permit(ap) {
		return nil
	}
	return checkAddr(ap.Addr(), c.cfg.AllowLoopback, c.special)
}

func (c *Client) checkScheme(u *url.URL) error {
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if c.cfg.AllowHTTP {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (only https:// URLs are fetched)", ErrForbiddenScheme, u.Redacted())
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if c.cfg.MaxRedirects < 0 || len(via) > c.cfg.MaxRedirects {
		return fmt.Errorf("%w (more than %d)", ErrTooManyRedirects, max(c.cfg.MaxRedirects, 0))
	}
	if err := c.checkScheme(req.URL); err != nil {
		return fmt.Errorf("redirect refused: %w", err)
	}
	return nil
}

// Get fetches rawURL and returns its body. A non-200 answer, a refused
// scheme or address, a body above the size limit and a fetch that outlasts
// the time limit are errors.
func (c *Client) Get(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("the URL does not parse: %w", err)
	}
	if err := c.checkScheme(u); err != nil {
		return nil, err
	}
	shown := u.Redacted()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", shown, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: the server answered %s", shown, resp.Status)
	}
	if resp.ContentLength > c.cfg.MaxBytes {
		return nil, fmt.Errorf("fetching %s: %w: %d bytes, above the %d-byte limit", shown, ErrTooLarge, resp.ContentLength, c.cfg.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: reading the body: %w", shown, err)
	}
	if int64(len(data)) > c.cfg.MaxBytes {
		return nil, fmt.Errorf("fetching %s: %w: more than the %d-byte limit", shown, ErrTooLarge, c.cfg.MaxBytes)
	}
	return data, nil
}

// unwrapURLError drops *url.Error's own "Get \"URL\":" prefix, which would
// repeat the URL (and its userinfo) in the message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
