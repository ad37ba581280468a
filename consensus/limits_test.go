package consensus

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/consensus/p2p"
)

// newStranger is a libp2p host that is no member of anything, listening on
// ip (127.0.0.x; its dials leave from that address).
func newStranger(t *testing.T, ip string) *p2p.Host {
	t.Helper()
	h, err := p2p.New(context.Background(), p2p.Config{DataDir: t.TempDir(), ListenAddrs: []string{"/ip4/" + ip + "/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func addrInfoOf(n *Node) peer.AddrInfo {
	return peer.AddrInfo{ID: n.PeerID(), Addrs: n.host.ListenAddrs()}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStrangerBigFramesDoNotGrowMemory: an unknown peer opens join streams
// that announce frames near the cluster's 128 MiB limit, sends a little of
// each and holds them open. The member's heap must not grow by the
// announced sizes, and the cluster is unchanged.
func TestStrangerBigFramesDoNotGrowMemory(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	member := c.node(0)
	stranger := newStranger(t, "127.0.0.1")
	stranger.Gater().Allow(member.PeerID(), time.Minute)
	ctx := ctxT(t, 30*time.Second)
	if err := stranger.Connect(ctx, addrInfoOf(member)); err != nil {
		t.Fatalf("a stranger gets a candidate window: %v", err)
	}

	before := heapInUse()
	chunk := make([]byte, 16<<10)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame-1)
	var held []network.Stream
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := stranger.NewStream(ctx, member.PeerID(), JoinProtocol)
			if err != nil {
				return // refused: the per-stranger stream cap
			}
			mu.Lock()
			held = append(held, s)
			mu.Unlock()
			_ = s.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := s.Write(hdr[:]); err != nil {
				return
			}
			for range 64 { // up to 1 MiB each, if the member keeps reading
				if _, err := s.Write(chunk); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	grew := int64(heapInUse()) - int64(before)
	for _, s := range held {
		_ = s.Reset()
	}
	t.Logf("member heap grew %d KiB while a stranger held %d join streams announcing %d MiB each", grew>>10, len(held), maxFrame>>20)
	if grew > 16<<20 {
		t.Fatalf("the heap grew %d MiB", grew>>20)
	}
	if n := member.host.RefusedCount("stranger_stream_limit") + member.host.RefusedCount("rcmgr_stream"); n == 0 {
		t.Error("no stream refusal was counted for 16 concurrent streams from one stranger")
	}
	srv, err := member.Servers()
	if err != nil || len(srv) != 1 {
		t.Fatalf("the cluster changed: %v %v", srv, err)
	}
}

// TestThrowawayIdentitiesCannotBlockAJoin: sixteen fresh identities from
// one address connect to a member and open the join protocol (the most a
// stranger can do to hold a candidate slot). A real node from another
// address still joins.
func TestThrowawayIdentitiesCannotBlockAJoin(t *testing.T) {
	c := newTestCluster(t, nil)
	c.bootstrap(1)
	member := c.node(0)
	ctx := ctxT(t, 40*time.Second)

	admitted := 0
	for range 16 {
		a := newStranger(t, "127.0.0.2")
		a.Gater().Allow(member.PeerID(), time.Minute)
		if err := a.Connect(ctx, addrInfoOf(member)); err != nil {
			continue
		}
		s, err := a.NewStream(ctx, member.PeerID(), JoinProtocol)
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = s.Reset() })
		// The stream stays open and silent: the slot is held for the
		// join window unless something takes it back.
		if _, err := s.Write([]byte{0}); err == nil {
			admitted++
		}
	}
	waitFor(t, 5*time.Second, "the member counted the refused identities", func() bool {
		return member.host.RefusedCount("candidate_ip_limit") > 0
	})
	t.Logf("%d of 16 throwaway identities hold a candidate slot; %v refused for their address", admitted, member.host.RefusedCount("candidate_ip_limit"))

	joiner := c.add()
	if err := c.node(joiner).Join(ctx, c.addr(0)); err != nil {
		t.Fatalf("a real node could not join while throwaway identities held slots: %v", err)
	}
	waitFor(t, 10*time.Second, "the joiner is in the configuration", func() bool {
		srv, err := member.Servers()
		return err == nil && len(srv) == 2
	})
}
