package consensus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/google/renameio/v2"

	"github.com/outlayer/outlayer/consensus/p2p"
)

func (n *Node) requestRefresh() {
	select {
	case n.refresh <- struct{}{}:
	default:
	}
}

func (n *Node) refreshLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.refresh:
			n.refreshMembership()
			n.requestVoterCheck()
		}
	}
}

// refreshMembership tells the gater who the members are: the replicated
// node table, the Raft configuration, and (while joining) the members the
// leader named. Members' addresses from the node table go to the peerstore.
func (n *Node) refreshMembership() {
	self := n.host.ID()
	ids := []peer.ID{self}
	seenSelf := false
	if nodes, err := n.store.Nodes(); err == nil {
		for _, rec := range nodes {
			p, err := peer.Decode(rec.PeerID)
			if err != nil {
				continue
			}
			if p == self {
				seenSelf = true
			}
			ids = append(ids, p)
			var addrs []ma.Multiaddr
			for _, s := range rec.Addresses {
				if a, err := ma.NewMultiaddr(s); err == nil {
					addrs = append(addrs, p2p.TransportAddr(a))
				}
			}
			// The table holds addresses at join; a member's own later
			// report (address exchange) is newer.
			if p != self && !n.book.selfReported(p) {
				n.learn(p, addrs, SourceNodeTable)
			}
		}
	} else {
		n.log.Warn("read node table", "err", err)
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if p, err := peer.Decode(string(s.ID)); err == nil {
				ids = append(ids, p)
			}
		}
	}
	n.joinMu.Lock()
	if seenSelf {
		n.joinSeed = nil
	}
	ids = append(ids, n.joinSeed...)
	n.joinMu.Unlock()
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n.host.Gater().SetMembers(ids)
	n.host.Enforce()
	n.savePeers(ids)
}

// peersFile caches members' addresses across restarts, so a node whose
// whole cluster restarted can find its peers before its replica is rebuilt.
// It is a cache, not the truth: it is rewritten from the peerstore, where
// a member's own report over the address exchange replaces what the file
// said (addrs.go).
const peersFile = "peers.json"

func (n *Node) savePeers(ids []peer.ID) {
	book := map[string][]string{}
	for _, id := range ids {
		if id == n.host.ID() {
			continue
		}
		if addrs := n.host.PeerAddrs(id); len(addrs) > 0 {
			book[id.String()] = addrStrings(addrs)
		}
	}
	if len(book) == 0 {
		// Nothing known (a node in no cluster yet, or alone): keep what
		// the file holds, which may be all a restarted node that must
		// join again has to find the members.
		return
	}
	raw, err := json.Marshal(book)
	if err != nil {
		return
	}
	if err := renameio.WriteFile(filepath.Join(n.cfg.DataDir, peersFile), raw, 0o600); err != nil {
		n.log.Warn("save peer addresses", "err", err)
	}
}

// loadPeers reads peers.json into the address book and returns its members.
func (n *Node) loadPeers() []peer.AddrInfo {
	raw, err := os.ReadFile(filepath.Join(n.cfg.DataDir, peersFile))
	if err != nil {
		return nil
	}
	var book map[string][]string
	if err := json.Unmarshal(raw, &book); err != nil {
		n.log.Warn("ignoring unreadable peer address book", "file", peersFile, "err", err)
		return nil
	}
	var out []peer.AddrInfo
	for id, addrs := range book {
		p, err := peer.Decode(id)
		if err != nil {
			continue
		}
		var as []ma.Multiaddr
		for _, s := range addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				as = append(as, a)
			}
		}
		n.learn(p, as, SourcePeersFile)
		out = append(out, peer.AddrInfo{ID: p, Addrs: as})
	}
	return out
}
