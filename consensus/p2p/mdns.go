package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// startMDNS is filled in by mdns discovery; see discovery.go.
func startMDNS(h *Host, service string) (interface{ Close() error }, error) {
	return newMDNS(h, service)
}

// discovered handles a peer found on the LAN: only members are dialled, so
// mDNS helps the cluster find its own nodes again after address changes
// and never pulls strangers in.
func (h *Host) discovered(info peer.AddrInfo) {
	if info.ID == h.ID() {
		return
	}
	if !h.gater.IsMember(info.ID) {
		return
	}
	h.AddAddrs(info.ID, info.Addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.h.Connect(ctx, info); err != nil {
		h.log.Debug("mdns: connect to discovered member failed", "peer", info.ID, "err", err)
	}
}
