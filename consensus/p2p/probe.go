package p2p

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	msmux "github.com/multiformats/go-multistream"
)

// probeTimeout bounds learning a peer id from an address.
const probeTimeout = 10 * time.Second

// PeerAt learns who listens at a TCP address (host:port, or a multiaddr
// without /p2p) by running the start of a libp2p connection: TCP, the
// security negotiation, and a Noise handshake that accepts any identity.
// It returns the identity the remote proved and the address it answered
// on, and closes the connection before any protocol is spoken. The remote
// sees an ordinary stranger that hung up; the identity is a claim about
// the address only, so callers show it for confirmation.
func (h *Host) PeerAt(ctx context.Context, target string) (peer.AddrInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hostport, err := dialTarget(target)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("reach %s: %w", target, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := msmux.SelectProtoOrFail(noise.ID, conn); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%s does not speak libp2p with Noise (is it an outlayerd libp2p port?): %w", target, err)
	}
	tpt, err := noise.New(noise.ID, h.h.Peerstore().PrivKey(h.h.ID()), nil)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("noise: %w", err)
	}
	st, err := tpt.WithSessionOptions(noise.DisablePeerIDCheck())
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("noise: %w", err)
	}
	sc, err := st.SecureOutbound(ctx, conn, "")
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("noise handshake with %s: %w", target, err)
	}
	defer sc.Close()
	remote, err := manet.FromNetAddr(conn.RemoteAddr())
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("address of %s: %w", target, err)
	}
	return peer.AddrInfo{ID: sc.RemotePeer(), Addrs: []ma.Multiaddr{remote}}, nil
}

// dialTarget turns host:port or a TCP multiaddr without /p2p (/ip4, /ip6,
// /dns, /dns4, /dns6) into host:port.
func dialTarget(target string) (string, error) {
	if len(target) > 0 && target[0] == '/' {
		a, err := ma.NewMultiaddr(target)
		if err != nil {
			return "", fmt.Errorf("address %q is not a multiaddr: %w", target, err)
		}
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil {
			return "", fmt.Errorf("address %q has no /tcp/PORT", target)
		}
		for _, code := range []int{ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6} {
			if host, err := a.ValueForProtocol(code); err == nil {
				return net.JoinHostPort(host, port), nil
			}
		}
		return "", fmt.Errorf("address %q names no host (/ip4, /ip6 or /dns)", target)
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("address %q: want HOST:PORT, a multiaddr, or a multiaddr ending in /p2p/<peer id>", target)
	}
	return target, nil
}
