package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// countingServer answers body on every path and counts the requests it saw.
func countingServer(t *testing.T, tlsOn bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	})
	var s *httptest.Server
	if tlsOn {
		s = httptest.NewTLSServer(wrapped)
	} else {
		s = httptest.NewServer(wrapped)
	}
	t.Cleanup(s.Close)
	return s, &hits
}

func serverAddr(t *testing.T, s *httptest.Server) netip.AddrPort {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func secret(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("internal secret")) }

func TestCheckAddr(t *testing.T) {
	special := specialPrefixes()
	refused := []string{
		"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1",
		"10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00:ec2::254", "::ffff:10.0.0.1",
		"169.254.169.254", "::ffff:169.254.169.254", "fe80::1",
		"0.0.0.0", "::", "224.0.0.1", "ff02::1", "100.64.0.1", "255.255.255.255",
		"64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
	}
	for _, s := range refused {
		if err := checkAddr(netip.MustParseAddr(s), false, special); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", s, err)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if err := checkAddr(netip.MustParseAddr(s), false, special); err != nil {
			t.Errorf("%s: public address refused: %v", s, err)
		}
	}
	if err := checkAddr(netip.MustParseAddr("::ffff:127.0.0.1"), true, special); err != nil {
		t.Errorf("dev mode: loopback refused: %v", err)
	}
	if err := checkAddr(netip.MustParseAddr("10.0.0.1"), true, special); err == nil {
		t.Error("dev mode let a private address through")
	}
}

func TestSchemes(t *testing.T) {
	c := New(Config{})
	for _, u := range []string{"http://example.com/x.wasm", "file:///etc/passwd", "ftp://example.com/x", "gopher://x", "//example.com/x"} {
		if _, err := c.Get(context.Background(), u); !errors.Is(err, ErrForbiddenScheme) {
			t.Errorf("%s: got %v, want ErrForbiddenScheme", u, err)
		}
	}
}

func TestLoopbackRefusedAtDial(t *testing.T) {
	s, hits := countingServer(t, false, secret)
	ap := serverAddr(t, s)
	c := New(Config{AllowHTTP: true})
	for _, u := range []string{
		s.URL,
		"http://localhost:" + itoa(ap.Port()),
		"http://[::ffff:127.0.0.1]:" + itoa(ap.Port()), // IPv4-mapped IPv6
		"http://[::ffff:7f00:1]:" + itoa(ap.Port()),
		"http://2130706433:" + itoa(ap.Port()), // 127.0.0.1 as one decimal number
	} {
		_, err := c.Get(context.Background(), u)
		if err == nil {
			t.Errorf("%s: fetched", u)
			continue
		}
		// The decimal form may not even parse as an address; what matters
		// is that nothing reached the server.
		if !errors.Is(err, ErrForbiddenAddress) && !strings.Contains(u, "2130706433") {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal server saw %d requests", n)
	}
	// Dev mode allows loopback, and the same server answers.
	body, err := New(Config{AllowHTTP: true, AllowLoopback: true}).Get(context.Background(), s.URL)
	if err != nil || string(body) != "internal secret" {
		t.Fatalf("dev mode fetch: %q, %v", body, err)
	}
}

func TestRedirectRechecked(t *testing.T) {
	internal, internalHits := countingServer(t, false, secret)
	// The "public" server: a TLS server the test lets through the address
	// check, redirecting elsewhere.
	var target atomic.Value
	public, _ := countingServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	tlsConf := &tls.Config{RootCAs: public.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	c := newTestClient(Config{AllowHTTP: true}, nil, tlsConf, serverAddr(t, public))

	target.Store(internal.URL) // http://127.0.0.1:port
	if _, err := c.Get(context.Background(), public.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("redirect to loopback: got %v, want ErrForbiddenAddress", err)
	}
	target.Store("http://169.254.169.254/latest/meta-data/")
	if _, err := c.Get(context.Background(), public.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("redirect to metadata: got %v, want ErrForbiddenAddress", err)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the internal server saw %d requests", n)
	}

	// Production: a redirect from https to http is refused before dialling.
	prod := newTestClient(Config{}, nil, tlsConf, serverAddr(t, public))
	target.Store("http://example.com/x.wasm")
	if _, err := prod.Get(context.Background(), public.URL); !errors.Is(err, ErrForbiddenScheme) {
		t.Errorf("redirect to http: got %v, want ErrForbiddenScheme", err)
	}
	target.Store("file:///etc/passwd")
	if _, err := prod.Get(context.Background(), public.URL); err == nil {
		t.Error("redirect to file:// followed")
	}
	// A redirect loop stops at the limit.
	target.Store(public.URL)
	if _, err := prod.Get(context.Background(), public.URL); !errors.Is(err, ErrTooManyRedirects) {
		t.Errorf("redirect loop: got %v, want ErrTooManyRedirects", err)
	}
	// A redirect that stays on the permitted https server is followed.
	pub2, _ := countingServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/x.wasm", http.StatusMovedPermanently)
			return
		}
		_, _ = w.Write([]byte("wasm"))
	})
	tls2 := &tls.Config{RootCAs: pub2.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	body, err := newTestClient(Config{}, nil, tls2, serverAddr(t, pub2)).Get(context.Background(), pub2.URL+"/moved")
	if err != nil || string(body) != "wasm" {
		t.Fatalf("https fetch with a same-host redirect: %q, %v", body, err)
	}
}

// fakeDNS answers A queries from names and nothing else.
func fakeDNS(t *testing.T, names map[string]netip.Addr) *net.Resolver {
	t.Helper()
	return dnsServer(t, func(name string) (netip.Addr, bool) {
		ip, ok := names[name]
		return ip, ok
	})
}

// flippingDNS answers name with whatever next returns, asked anew for each
// query.
func flippingDNS(t *testing.T, name string, next func() netip.Addr) *net.Resolver {
	t.Helper()
	return dnsServer(t, func(n string) (netip.Addr, bool) {
		if n != name {
			return netip.Addr{}, false
		}
		return next(), true
	})
}

// dnsServer answers A queries with answer.
func dnsServer(t *testing.T, answer func(name string) (netip.Addr, bool)) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			// answer is asked only for A queries: a resolver's parallel AAAA
			// query must not advance a flipping answer.
			if q.Type == dnsmessage.TypeA {
				if ip, ok := answer(q.Name.String()); ok {
					_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: ip.As4()})
				}
			}
			msg, err := b.Finish()
			if err != nil {
				continue
			}
			_, _ = pc.WriteTo(msg, from)
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func TestNameResolvingInternalRefused(t *testing.T) {
	s, hits := countingServer(t, false, secret)
	ap := serverAddr(t, s)
	r := fakeDNS(t, map[string]netip.Addr{
		"wasm.example.test.":     netip.MustParseAddr("10.1.2.3"),
		"metadata.example.test.": netip.MustParseAddr("169.254.169.254"),
		"rebind.example.test.":   netip.MustParseAddr("127.0.0.1"),
	})
	c := newTestClient(Config{AllowHTTP: true}, r, nil, netip.AddrPort{})
	for _, host := range []string{"wasm.example.test", "metadata.example.test", "rebind.example.test"} {
		u := "http://" + host + ":" + itoa(ap.Port()) + "/x.wasm"
		_, err := c.Get(context.Background(), u)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", host, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal server saw %d requests", n)
	}
	// The resolver works: with loopback allowed the rebind name reaches the server.
	dev := newTestClient(Config{AllowHTTP: true, AllowLoopback: true}, r, nil, netip.AddrPort{})
	if _, err := dev.Get(context.Background(), "http://rebind.example.test:"+itoa(ap.Port())+"/"); err != nil {
		t.Fatalf("dev fetch through the fake resolver: %v", err)
	}
}

func TestOversizeBody(t *testing.T) {
	big := strings.Repeat("x", 4096)
	declared, _ := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(big)) })
	chunked, _ := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		for range 1 << 10 { // 4 MiB with no Content-Length
			_, _ = w.Write([]byte(big))
			w.(http.Flusher).Flush()
		}
	})
	c := New(Config{AllowHTTP: true, AllowLoopback: true, MaxBytes: 1000})
	for _, u := range []string{declared.URL, chunked.URL} {
		if _, err := c.Get(context.Background(), u); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: got %v, want ErrTooLarge", u, err)
		}
	}
	// Exactly at the limit is fine.
	exact, _ := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(big[:1000])) })
	if b, err := c.Get(context.Background(), exact.URL); err != nil || len(b) != 1000 {
		t.Fatalf("body at the limit: %d bytes, %v", len(b), err)
	}
}

func TestSlowBody(t *testing.T) {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	slow, _ := countingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	c := New(Config{AllowHTTP: true, AllowLoopback: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.Get(context.Background(), slow.URL)
	if err == nil {
		t.Fatal("a body that never ends was accepted")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the fetch took %v with a 300ms limit", d)
	}
}

func TestNon200(t *testing.T) {
	s, _ := countingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "deadbeef-body-content", http.StatusNotFound)
	})
	_, err := New(Config{AllowHTTP: true, AllowLoopback: true}).Get(context.Background(), s.URL)
	if err == nil || strings.Contains(err.Error(), "deadbeef") {
		t.Fatalf("got %v: want an error that does not echo the body", err)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
