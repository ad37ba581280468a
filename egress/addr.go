package egress

import (
	"fmt"
	"net/netip"
)

// specialPrefixes are ranges that are not loopback, private or link-local
// by netip's predicates but still do not belong to the public internet, or
// embed an IPv4 address that would bypass the check.
func specialPrefixes() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
		netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds an IPv4 address
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
		netip.MustParsePrefix("100::/64"),        // discard
		netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments, Teredo
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("2002::/16"),       // 6to4: embeds an IPv4 address
	}
}

// checkAddr says why addr must not be dialled, or nil when it is a public
// address. loopbackOK lets loopback through (dev mode); special is
// specialPrefixes().
func checkAddr(addr netip.Addr, loopbackOK bool, special []netip.Prefix) error {
	addr = addr.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	switch {
	case !addr.IsValid():
		return fmt.Errorf("%w: not an IP address", ErrForbiddenAddress)
	case addr.IsLoopback():
		if loopbackOK {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback address", ErrForbiddenAddress, addr)
	case addr.IsPrivate():
		return fmt.Errorf("%w: %s is a private address", ErrForbiddenAddress, addr)
	case addr.IsLinkLocalUnicast():
		return fmt.Errorf("%w: %s is a link-local address (cloud metadata services live there)", ErrForbiddenAddress, addr)
	case addr.IsUnspecified():
		return fmt.Errorf("%w: %s is the unspecified address", ErrForbiddenAddress, addr)
	case addr.IsMulticast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s is a multicast address", ErrForbiddenAddress, addr)
	case addr.Zone() != "":
		return fmt.Errorf("%w: %s has an interface zone", ErrForbiddenAddress, addr)
	}
	for _, p := range special {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is in the special-purpose range %s", ErrForbiddenAddress, addr, p)
		}
	}
	return nil
}
