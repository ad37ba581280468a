package discovery

import (
	"fmt"
	"net"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Mode says when a node uses LAN discovery.
type Mode string

const (
	// ModeAuto (the default): on in dev mode and for a node that listens
	// only on private, link-local or loopback addresses; off for a
	// production node with a public listen address.
	ModeAuto Mode = "auto"
	// ModeOn: always, given a cluster name.
	ModeOn Mode = "on"
	// ModeOff: never.
	ModeOff Mode = "off"
)

// ParseMode reads a mode; "" is ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeAuto:
		return ModeAuto, nil
	case ModeOn, ModeOff:
		return Mode(s), nil
	}
	return "", fmt.Errorf("LAN discovery mode %q: want auto, on or off", s)
}

// Decide says whether a node uses LAN discovery, and why (for its log and
// status). Without a cluster name there is nothing to announce or look up.
func Decide(mode Mode, cluster string, devMode bool, listen []string) (bool, string) {
	if cluster == "" {
		return false, "off: no cluster name (--cluster)"
	}
	switch mode {
	case ModeOn:
		return true, "on (--mdns on)"
	case ModeOff:
		return false, "off (--mdns off)"
	}
	if devMode {
		return true, "on (dev mode)"
	}
	if pub := publicListenAddr(listen, interfaceIPs); pub != "" {
		return false, fmt.Sprintf("off: production node listening on the public address %s (an announcement there reaches no one it should; --mdns on to override)", pub)
	}
	return true, "on (every listen address is private)"
}

// publicListenAddr returns the first listen address that is public, an
// unspecified address (0.0.0.0, ::) counting as every address of the
// machine's interfaces.
func publicListenAddr(listen []string, ifaceIPs func() []net.IP) string {
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		ip, err := manet.ToIP(a)
		if err != nil {
			continue
		}
		if !ip.IsUnspecified() {
			if public(ip) {
				return ip.String()
			}
			continue
		}
		for _, local := range ifaceIPs() {
			if (ip.To4() == nil) == (local.To4() == nil) && public(local) {
				return fmt.Sprintf("%s (through %s)", local, ip)
			}
		}
	}
	return ""
}

func public(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !ip.IsPrivate()
}

func interfaceIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n.IP)
		}
	}
	return out
}
