package p2p

import "errors"

// newMDNS would start LAN discovery. libp2p's mdns package needs
// github.com/libp2p/zeroconf/v2, which is not available to this build (the
// module proxy refuses it), so LAN discovery is reported unavailable and the
// host relies on bootstrap addresses and the replicated node table.
func newMDNS(*Host, string) (interface{ Close() error }, error) {
	return nil, errors.New("mDNS needs github.com/libp2p/zeroconf/v2, which this build does not include")
}
