package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Config describes a node's libp2p host.
type Config struct {
	// Key is the node's identity. When nil, it is read from DataDir
	// (created there on first start: LoadOrCreateIdentity).
	Key crypto.PrivKey
	// DataDir holds the identity key when Key is nil.
	DataDir string
	// ListenAddrs are TCP multiaddrs, e.g. /ip4/0.0.0.0/tcp/4001; tests use
	// /ip4/127.0.0.1/tcp/0.
	ListenAddrs []string
	// Gater tunes the connection gater.
	Gater GaterConfig
	// Logger receives the host's log lines.
	Logger *slog.Logger
}

// Host is a node's libp2p host with its gater.
type Host struct {
	h      host.Host
	gater  *Gater
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// strangerMux negotiates for peers that are not members: it knows
	// only the protocols registered with HandleAdmitted (the join
	// protocol), so a stranger learns nothing else, identify included.
	strangerMux *msmux.MultistreamMuxer[protocol.ID]
	// strangerStreams counts open streams per non-member.
	strangerMu      sync.Mutex
	strangerStreams map[peer.ID]int

	refusals *prometheus.CounterVec

	closeOnce sync.Once
}

// MaxStrangerStreams is how many streams a non-member may have open at
// once (the join handshake needs one).
const MaxStrangerStreams = 2

// negotiationTimeout bounds protocol negotiation on an inbound stream.
const negotiationTimeout = 10 * time.Second

// New starts a libp2p host: TCP only, Noise, yamux, no relay, no NAT port
// mapping, no AutoNAT, no hole punching, no metrics. The cluster runs on
// addresses its operators configure; none of the public-internet machinery
// is needed and all of it makes noise.
func New(ctx context.Context, cfg Config) (*Host, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := cfg.Key
	if key == nil {
		var err error
		if key, err = LoadOrCreateIdentity(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if len(cfg.ListenAddrs) == 0 {
		return nil, errors.New("p2p: no listen address given (for example /ip4/0.0.0.0/tcp/4001)")
	}
	listen := make([]ma.Multiaddr, 0, len(cfg.ListenAddrs))
	for _, s := range cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("p2p: listen address %q is not a multiaddr: %w", s, err)
		}
		listen = append(listen, a)
	}
	gater := NewGater(cfg.Gater)
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outlayer_p2p_refused_total",
		Help: "Connections, streams and memory the libp2p host refused, by reason.",
	}, []string{"reason"})
	gater.refusal = func(reason string) { refusals.WithLabelValues(reason).Inc() }
	rm, err := newResourceManager(refusals)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrs(listen...),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(gater),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.DisableIdentifyAddressDiscovery(),
		libp2p.ResourceManager(rm),
		libp2p.Ping(false),
		libp2p.UserAgent("outlayerd"),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: start libp2p host: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	hst := &Host{h: h, gater: gater, log: log, cancel: cancel, refusals: refusals,
		strangerMux: msmux.NewMultistreamMuxer[protocol.ID](), strangerStreams: map[peer.ID]int{}}
	// Every inbound stream goes through routeStream, which picks the
	// protocol table by who is asking.
	h.Network().SetStreamHandler(hst.routeStream)
	h.Network().Notify(&network.NotifyBundle{DisconnectedF: func(n network.Network, c network.Conn) {
		if p := c.RemotePeer(); n.Connectedness(p) != network.Connected {
			gater.Disconnected(p)
		}
	}})
	hst.wg.Add(1)
	go hst.enforce(runCtx)
	log.Info("libp2p host started", "peer", h.ID(), "addrs", h.Addrs())
	return hst, nil
}

// enforce closes connections the gater no longer admits: expired join
// windows, removed members, cut links.
func (h *Host) enforce(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.gater.Expire()
			h.Enforce()
		}
	}
}

// Enforce closes every connection to a peer the gater does not admit now.
func (h *Host) Enforce() {
	for _, p := range h.h.Network().Peers() {
		if !h.gater.Admitted(p) {
			_ = h.h.Network().ClosePeer(p)
		}
	}
}

// ID is the node's peer id.
func (h *Host) ID() peer.ID { return h.h.ID() }

// Addrs returns the full dialable addresses of this node (with /p2p/<id>).
func (h *Host) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: h.h.ID(), Addrs: h.h.Addrs()}
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// ListenAddrs returns the transport addresses without the /p2p part.
func (h *Host) ListenAddrs() []ma.Multiaddr { return h.h.Addrs() }

// Gater is the host's connection gater.
func (h *Host) Gater() *Gater { return h.gater }

// LibP2P exposes the underlying host for callers that need more.
func (h *Host) LibP2P() host.Host { return h.h }

// AddAddrs records where a peer can be reached. Members' addresses are kept
// permanently; they come from the replicated node table.
func (h *Host) AddAddrs(p peer.ID, addrs []ma.Multiaddr) {
	h.h.Peerstore().AddAddrs(p, addrs, peerstore.PermanentAddrTTL)
}

// PeerAddrs returns the known addresses of p.
func (h *Host) PeerAddrs(p peer.ID) []ma.Multiaddr { return h.h.Peerstore().Addrs(p) }

// Cut severs every link with p (both new and existing connections) until
// Heal. Partition tests call it on both sides.
func (h *Host) Cut(p peer.ID) {
	h.gater.Cut(p)
	_ = h.h.Network().ClosePeer(p)
}

// Heal undoes Cut.
func (h *Host) Heal(p peer.ID) { h.gater.Heal(p) }

// Handle registers a protocol served to cluster members only; streams from
// anyone else are reset before the handler sees them.
func (h *Host) Handle(proto protocol.ID, handler network.StreamHandler) {
	h.h.SetStreamHandler(proto, func(s network.Stream) {
		if !h.gater.IsMember(s.Conn().RemotePeer()) {
			_ = s.Reset()
			return
		}
		handler(s)
	})
}

// HandleAdmitted registers a protocol served to every admitted peer,
// including joiners in their window. Only the join protocol should use it:
// it is all a non-member can negotiate.
func (h *Host) HandleAdmitted(proto protocol.ID, handler network.StreamHandler) {
	wrapped := func(s network.Stream) {
		if !h.gater.Admitted(s.Conn().RemotePeer()) {
			_ = s.Reset()
			return
		}
		handler(s)
	}
	h.h.SetStreamHandler(proto, wrapped)
	h.strangerMux.AddHandler(proto, func(_ protocol.ID, rwc io.ReadWriteCloser) error {
		wrapped(rwc.(network.Stream))
		return nil
	})
}

// RemoveHandler unregisters a protocol.
func (h *Host) RemoveHandler(proto protocol.ID) {
	h.h.RemoveStreamHandler(proto)
	h.strangerMux.RemoveHandler(proto)
}

// routeStream negotiates an inbound stream's protocol. Members get the
// host's full protocol table; any other admitted peer gets only the
// HandleAdmitted protocols (no identify: a stranger learns neither our
// protocols nor our addresses), at most MaxStrangerStreams streams at once,
// and its candidate slot is extended only once it has opened one.
func (h *Host) routeStream(s network.Stream) {
	p := s.Conn().RemotePeer()
	mux := h.h.Mux()
	stranger := !h.gater.IsMember(p)
	if stranger {
		if !h.gater.Admitted(p) {
			h.refused("stream_not_admitted")
			_ = s.Reset()
			return
		}
		if !h.acquireStranger(p) {
			h.refused("stranger_stream_limit")
			_ = s.Reset()
			return
		}
		defer h.releaseStranger(p)
	}
	_ = s.SetDeadline(time.Now().Add(negotiationTimeout))
	var (
		proto  protocol.ID
		handle protocol.HandlerFunc
		err    error
	)
	if stranger {
		proto, handle, err = h.strangerMux.Negotiate(s)
	} else {
		proto, handle, err = mux.Negotiate(s)
	}
	if err != nil {
		if stranger {
			h.refused("stranger_protocol")
		}
		_ = s.Reset()
		return
	}
	_ = s.SetDeadline(time.Time{})
	if err := s.SetProtocol(proto); err != nil { // the resource manager's protocol scope
		_ = s.Reset()
		return
	}
	if stranger {
		h.gater.Spoke(p)
	}
	_ = handle(proto, s)
}

func (h *Host) acquireStranger(p peer.ID) bool {
	h.strangerMu.Lock()
	defer h.strangerMu.Unlock()
	if h.strangerStreams[p] >= MaxStrangerStreams {
		return false
	}
	h.strangerStreams[p]++
	return true
}

func (h *Host) releaseStranger(p peer.ID) {
	h.strangerMu.Lock()
	defer h.strangerMu.Unlock()
	if h.strangerStreams[p]--; h.strangerStreams[p] <= 0 {
		delete(h.strangerStreams, p)
	}
}

func (h *Host) refused(reason string) { h.refusals.WithLabelValues(reason).Inc() }

// Refused counts what the host refused, by reason: register it with the
// node's Prometheus registry (outlayer_p2p_refused_total).
func (h *Host) Refused() prometheus.Collector { return h.refusals }

// RefusedCount is one reason's count (tests, status).
func (h *Host) RefusedCount(reason string) float64 {
	m := &dto.Metric{}
	if err := h.refusals.WithLabelValues(reason).Write(m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Connect dials a peer at the given address info, adding its addresses to
// the peerstore. The gater must admit the peer.
func (h *Host) Connect(ctx context.Context, info peer.AddrInfo) error {
	if err := h.h.Connect(ctx, info); err != nil {
		return fmt.Errorf("connect to %s: %w", info.ID, err)
	}
	return nil
}

// NewStream opens a stream to p speaking proto, dialling it if needed.
func (h *Host) NewStream(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	s, err := h.h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("open %s stream to %s: %w", proto, p, err)
	}
	return s, nil
}

// Close stops the host.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		h.cancel()
		h.wg.Wait()
		err = h.h.Close()
	})
	return err
}

// ParseAddrInfo parses a bootstrap multiaddr that ends in /p2p/<peer id>.
func ParseAddrInfo(s string) (peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q is not a multiaddr: %w", s, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("peer address %q must end in /p2p/<peer id>: %w", s, err)
	}
	return *info, nil
}
