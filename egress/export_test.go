package egress

import (
	"crypto/tls"
	"net"
	"net/netip"
)

// newTestClient builds a Client with the knobs production code cannot set:
// a resolver (a fake DNS server), TLS roots (httptest's certificate) and
// one address let through the check to stand in for a public host.
func newTestClient(cfg Config, resolver *net.Resolver, tlsConf *tls.Config, permit netip.AddrPort) *Client {
	c := newClient(cfg, options{resolver: resolver, rootCAs: tlsConf})
	if permit.IsValid() {
		c.permit = func(ap netip.AddrPort) bool { return ap == permit }
	}
	return c
}
