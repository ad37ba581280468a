package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/prometheus/client_golang/prometheus"
)

// Per-peer and per-protocol limits of the resource manager. A cluster has a
// handful of members, each with a few Raft, RPC and blob streams open; the
// limits leave them room and stop one peer from taking the host's streams
// or buffer memory. The libp2p defaults (scaled to the machine) bound the
// whole host.
const (
	peerStreams          = 512
	peerConns            = 16
	peerMemory           = 128 << 20
	protocolPeerStreams  = 128
	protocolPeerMemory   = 64 << 20
	transientStreams     = 64
	transientConnsPerHst = 64
)

// newResourceManager returns the go-libp2p resource manager with the
// limits above; every refusal it makes is counted in refusals.
func newResourceManager(refusals *prometheus.CounterVec) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	partial := rcmgr.PartialLimitConfig{
		PeerDefault: rcmgr.ResourceLimits{
			Streams: peerStreams, StreamsInbound: peerStreams / 2, StreamsOutbound: peerStreams / 2,
			Conns: peerConns, ConnsInbound: peerConns / 2, ConnsOutbound: peerConns / 2,
			Memory: peerMemory,
		},
		ProtocolPeerDefault: rcmgr.ResourceLimits{
			Streams: protocolPeerStreams, StreamsInbound: protocolPeerStreams / 2, StreamsOutbound: protocolPeerStreams / 2,
			Memory: protocolPeerMemory,
		},
		Transient: rcmgr.ResourceLimits{
			Streams: transientStreams, StreamsInbound: transientStreams / 2, StreamsOutbound: transientStreams / 2,
			Conns: transientConnsPerHst, ConnsInbound: transientConnsPerHst / 2, ConnsOutbound: transientConnsPerHst / 2,
		},
	}
	limits := partial.Build(scaling.AutoScale())
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetrics(refusalReporter{refusals}))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}

// refusalReporter counts the resource manager's refusals; allowances are
// not counted.
type refusalReporter struct{ c *prometheus.CounterVec }

func (r refusalReporter) inc(reason string) { r.c.WithLabelValues(reason).Inc() }

func (refusalReporter) AllowConn(network.Direction, bool)        {}
func (r refusalReporter) BlockConn(network.Direction, bool)      { r.inc("rcmgr_conn") }
func (refusalReporter) AllowStream(peer.ID, network.Direction)   {}
func (r refusalReporter) BlockStream(peer.ID, network.Direction) { r.inc("rcmgr_stream") }
func (refusalReporter) AllowPeer(peer.ID)                        {}
func (r refusalReporter) BlockPeer(peer.ID)                      { r.inc("rcmgr_peer") }
func (refusalReporter) AllowProtocol(protocol.ID)                {}
func (r refusalReporter) BlockProtocol(protocol.ID)              { r.inc("rcmgr_protocol") }
func (r refusalReporter) BlockProtocolPeer(protocol.ID, peer.ID) { r.inc("rcmgr_protocol_peer") }
func (refusalReporter) AllowService(string)                      {}
func (r refusalReporter) BlockService(string)                    { r.inc("rcmgr_service") }
func (r refusalReporter) BlockServicePeer(string, peer.ID)       { r.inc("rcmgr_service_peer") }
func (refusalReporter) AllowMemory(int)                          {}
func (r refusalReporter) BlockMemory(int)                        { r.inc("rcmgr_memory") }
