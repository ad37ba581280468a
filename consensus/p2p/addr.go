package p2p

import ma "github.com/multiformats/go-multiaddr"

// TransportAddr is a's transport part: a without a trailing /p2p/<id>.
func TransportAddr(a ma.Multiaddr) ma.Multiaddr {
	rest, last := ma.SplitLast(a)
	if last != nil && last.Protocol().Code == ma.P_P2P {
		return rest
	}
	return a
}
