package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFetchCarriesMethodHeadersAndBody(t *testing.T) {
	s, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Probe"))
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	})
	c := New(Config{AllowHTTP: true, AllowLoopback: true})
	resp, err := c.Fetch(context.Background(), &Request{Method: "PUT", URL: s.URL + "/p",
		Header: http.Header{"X-Probe": {"yes"}}, Body: []byte("data")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTeapot || resp.Header.Get("X-Seen") != "yes" || string(resp.Body) != "PUT /p data" {
		t.Fatalf("got %d %v %q", resp.Status, resp.Header, resp.Body)
	}
	// The response size limit is the request's when it is smaller.
	if _, err := c.Fetch(context.Background(), &Request{URL: s.URL, MaxBytes: 3}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a 7-byte body under a 3-byte limit: %v", err)
	}
}

func TestFetchHostAllowlistBeforeDNSAndOnRedirects(t *testing.T) {
	var lookups atomic.Int64
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("no DNS in this test")
	}}
	other, otherHits := countingServer(t, false, secret)
	c := newTestClient(Config{AllowHTTP: true, AllowLoopback: true}, resolver, nil, netip.AddrPort{})
	only := func(host string) func(string) error {
		return func(h string) error {
			if h != host {
				return fmt.Errorf("%s is not declared", h)
			}
			return nil
		}
	}
	_, err := c.Fetch(context.Background(), &Request{URL: "http://not-declared.example/", AllowHost: only("127.0.0.1")})
	if !errors.Is(err, ErrForbiddenHost) || lookups.Load() != 0 {
		t.Fatalf("undeclared host: %v after %d lookups, want ErrForbiddenHost before any", err, lookups.Load())
	}
	// The redirect goes to "localhost", which is not the declared name.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	s2, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	})
	_, err = c.Fetch(context.Background(), &Request{URL: s2.URL, AllowHost: only("127.0.0.1")})
	if !errors.Is(err, ErrForbiddenHost) || otherHits.Load() != 0 {
		t.Fatalf("redirect to an undeclared host: %v (%d hits), want ErrForbiddenHost", err, otherHits.Load())
	}
}

// A name whose DNS answer flips between a permitted address and an
// internal one never reaches the internal server: the address checked is
// the one dialled, on every connection.
func TestFetchDNSRebindingNeverReachesInternal(t *testing.T) {
	internal := httptest.NewUnstartedServer(http.HandlerFunc(secret))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	internal.Listener = l
	internal.Start()
	t.Cleanup(internal.Close)
	var internalHits atomic.Int64
	internal.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		secret(w, r)
	})
	public, publicHits := countingServer(t, true, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("public")) })
	pub := serverAddr(t, public)
	// Both servers on one port number is not guaranteed; the rebinding
	// name is asked for on the public server's port, where 127.0.0.2 is
	// refused by the address check whatever listens there.
	var flip atomic.Int64
	resolver := flippingDNS(t, "rebind.example.test.", func() netip.Addr {
		if flip.Add(1)%2 == 0 {
			return netip.MustParseAddr("127.0.0.2")
		}
		return pub.Addr()
	})
	tlsConf := &tls.Config{RootCAs: public.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "example.com"}
	c := newTestClient(Config{}, resolver, tlsConf, pub)
	refused, ok := 0, 0
	for range 6 {
		c.hc.Transport.(*http.Transport).CloseIdleConnections()
		_, err := c.Fetch(context.Background(), &Request{URL: fmt.Sprintf("https://rebind.example.test:%d/", pub.Port())})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrForbiddenAddress):
			refused++
		default:
			t.Logf("fetch: %v", err)
		}
	}
	t.Logf("%d fetches refused, %d reached the public server", refused, ok)
	if internalHits.Load() != 0 || refused == 0 || ok == 0 {
		t.Fatalf("internal server saw %d requests; %d fetches refused, %d reached the public one (%d hits)", internalHits.Load(), refused, ok, publicHits.Load())
	}
}
