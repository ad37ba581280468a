package p2p

import (
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
)

type fakeAddrs struct{ remote ma.Multiaddr }

func (f fakeAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/10.0.0.1/tcp/4001") }
func (f fakeAddrs) RemoteMultiaddr() ma.Multiaddr { return f.remote }

func from(ip string) network.ConnMultiaddrs {
	return fakeAddrs{ma.StringCast("/ip4/" + ip + "/tcp/5555")}
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fakeClockGater is a gater whose clock the test moves.
func fakeClockGater(cfg GaterConfig) (*Gater, *time.Time, map[string]int) {
	g := NewGater(cfg)
	now := time.Unix(1_000_000, 0)
	g.now = func() time.Time { return now }
	counts := map[string]int{}
	g.refusal = func(r string) { counts[r]++ }
	return g, &now, counts
}

func TestCandidateSlotsPerIPAndRelease(t *testing.T) {
	g, _, refusals := fakeClockGater(GaterConfig{CandidateWindow: time.Minute, MaxCandidates: 16, MaxCandidatesPerIP: 4})
	// Sixteen throwaway identities from one address get four slots.
	var attackers []peer.ID
	for range 16 {
		p := newPeerID(t)
		if g.InterceptSecured(network.DirInbound, p, from("198.51.100.7")) {
			attackers = append(attackers, p)
		}
	}
	if len(attackers) != 4 || refusals["candidate_ip_limit"] != 12 {
		t.Fatalf("%d of 16 identities from one IP got a slot (refusals %v), want 4", len(attackers), refusals)
	}
	// A real joiner from elsewhere still gets in.
	joiner := newPeerID(t)
	if !g.InterceptSecured(network.DirInbound, joiner, from("203.0.113.9")) {
		t.Fatal("a joiner from another address was refused while one address held its 4 slots")
	}
	// A disconnect releases the slot at once.
	g.Disconnected(attackers[0])
	if g.Admitted(attackers[0]) {
		t.Fatal("a disconnected candidate is still admitted")
	}
	if !g.InterceptSecured(network.DirInbound, newPeerID(t), from("198.51.100.7")) {
		t.Fatal("the released slot was not reusable")
	}
	// Outbound connections never make candidates.
	if g.InterceptSecured(network.DirOutbound, newPeerID(t), from("203.0.113.10")) {
		t.Fatal("an outbound connection to a stranger was admitted")
	}
}

func TestCandidateSlotsTotalCap(t *testing.T) {
	g, _, refusals := fakeClockGater(GaterConfig{CandidateWindow: time.Minute, MaxCandidates: 3, MaxCandidatesPerIP: 4})
	for i := range 5 {
		ok := g.InterceptSecured(network.DirInbound, newPeerID(t), from("192.0.2."+string(rune('1'+i))))
		if ok != (i < 3) {
			t.Fatalf("candidate %d admitted=%v", i, ok)
		}
	}
	if refusals["candidate_slots_full"] != 2 {
		t.Fatalf("refusals %v", refusals)
	}
}

func TestCandidateHelloWindow(t *testing.T) {
	g, now, _ := fakeClockGater(GaterConfig{CandidateWindow: time.Minute, HelloWindow: 5 * time.Second})
	idle, talker := newPeerID(t), newPeerID(t)
	for _, p := range []peer.ID{idle, talker} {
		if !g.InterceptSecured(network.DirInbound, p, from("203.0.113.1")) {
			t.Fatal("candidate refused")
		}
	}
	*now = now.Add(2 * time.Second)
	if !g.Spoke(talker) {
		t.Fatal("Spoke: not a candidate")
	}
	*now = now.Add(4 * time.Second) // 6 s in: past the hello window
	g.Expire()
	if g.Admitted(idle) {
		t.Fatal("a candidate that never opened the join protocol kept its slot past the hello window")
	}
	if !g.Admitted(talker) {
		t.Fatal("a candidate that opened the join protocol lost its slot early")
	}
	*now = now.Add(time.Minute)
	g.Expire()
	if g.Admitted(talker) {
		t.Fatal("a candidate outlived its window")
	}
	// A member is never a candidate.
	m := newPeerID(t)
	g.SetMembers([]peer.ID{m})
	if g.Spoke(m) || g.IsCandidate(m) {
		t.Fatal("a member counted as a candidate")
	}
}

// TestStrangersSpeakOnlyTheJoinProtocol: a candidate can negotiate the
// HandleAdmitted protocol and nothing else — not identify (which would tell
// it every protocol and listen address), not a members-only protocol — and
// holds at most MaxStrangerStreams streams. A member gets identify.
func TestStrangersSpeakOnlyTheJoinProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	member := newTestHost(t, GaterConfig{CandidateWindow: time.Minute})
	other := newTestHost(t, GaterConfig{})
	stranger := newTestHost(t, GaterConfig{})
	member.Gater().SetMembers([]peer.ID{member.ID(), other.ID()})
	other.Gater().SetMembers([]peer.ID{member.ID(), other.ID()})
	stranger.Gater().Allow(member.ID(), time.Minute)
	release := make(chan struct{})
	defer close(release)
	member.HandleAdmitted("/test/join/1", func(s network.Stream) {
		_, _ = s.Write([]byte{1})
		<-release
		_ = s.Close()
	})
	member.Handle("/test/members/1", func(s network.Stream) { _, _ = s.Write([]byte{1}); _ = s.Close() })

	if err := connect(ctx, stranger, member); err != nil {
		t.Fatal(err)
	}
	speaks := func(from *Host, proto protocol.ID) bool {
		s, err := from.LibP2P().NewStream(ctx, member.ID(), proto)
		if err != nil {
			return false
		}
		buf := make([]byte, 1)
		_, err = io.ReadFull(s, buf)
		if err != nil {
			_ = s.Reset()
		}
		return err == nil
	}
	if speaks(stranger, identify.ID) {
		t.Error("a stranger negotiated identify")
	}
	if speaks(stranger, "/test/members/1") {
		t.Error("a stranger negotiated a members-only protocol")
	}
	if member.RefusedCount("stranger_protocol") < 2 {
		t.Errorf("refusals not counted: %v", member.RefusedCount("stranger_protocol"))
	}
	// Two join streams are held; the third is refused.
	for i := range MaxStrangerStreams {
		if !speaks(stranger, "/test/join/1") {
			t.Fatalf("the stranger could not open join stream %d", i+1)
		}
	}
	if speaks(stranger, "/test/join/1") {
		t.Error("a stranger held a third join stream")
	}
	if member.RefusedCount("stranger_stream_limit") == 0 {
		t.Error("the stream limit refusal was not counted")
	}
	// A member gets the full table, identify included.
	if err := connect(ctx, other, member); err != nil {
		t.Fatal(err)
	}
	s, err := other.LibP2P().NewStream(ctx, member.ID(), identify.ID)
	if err != nil {
		t.Fatalf("a member could not open identify: %v", err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("a member got no identify answer: %v", err)
	}
	_ = s.Close()
}
