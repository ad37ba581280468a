package p2p

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIdentityPersistsWithPrivateMode(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equals(k2) {
		t.Fatal("a second load returned a different identity")
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateIdentity(dir); err == nil {
		t.Fatal("a corrupt key file must be an error, not silently replaced")
	}
}

func newTestHost(t *testing.T, gc GaterConfig) *Host {
	t.Helper()
	h, err := New(context.Background(), Config{
		DataDir: t.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Gater: gc,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(ctx context.Context, from, to *Host) error {
	return from.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: to.ListenAddrs()})
}

func TestGaterAdmitsMembersOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := newTestHost(t, GaterConfig{})
	b := newTestHost(t, GaterConfig{})
	stranger := newTestHost(t, GaterConfig{})

	a.Gater().SetMembers([]peer.ID{a.ID(), b.ID()})
	b.Gater().SetMembers([]peer.ID{a.ID(), b.ID()})
	stranger.Gater().Allow(a.ID(), time.Minute) // the stranger wants in

	if err := connect(ctx, a, b); err != nil {
		t.Fatalf("members must connect: %v", err)
	}
	assertShutOut(ctx, t, stranger, a)
	// A members-only protocol is refused to non-members even on an
	// admitted connection.
	got := make(chan peer.ID, 1)
	a.Handle("/test/members/1", func(s network.Stream) { got <- s.Conn().RemotePeer(); s.Close() })
	s, err := b.NewStream(ctx, a.ID(), "/test/members/1")
	if err != nil {
		t.Fatalf("member stream: %v", err)
	}
	s.Close()
	if p := <-got; p != b.ID() {
		t.Fatalf("handler saw %s", p)
	}

	// Cut severs existing links and refuses new ones until Heal.
	a.Cut(b.ID())
	b.Cut(a.ID())
	assertShutOut(ctx, t, b, a)
	a.Heal(b.ID())
	b.Heal(a.ID())
	if err := connect(ctx, b, a); err != nil {
		t.Fatalf("healed link: %v", err)
	}
}

func TestGaterCandidateWindowAndRefusal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	member := newTestHost(t, GaterConfig{CandidateWindow: time.Minute, RefusedCooldown: time.Minute})
	joiner := newTestHost(t, GaterConfig{})
	member.Gater().SetMembers([]peer.ID{member.ID()})
	joiner.Gater().Allow(member.ID(), time.Minute)

	if err := connect(ctx, joiner, member); err != nil {
		t.Fatalf("a joiner must get a candidate window: %v", err)
	}
	if member.Gater().IsMember(joiner.ID()) {
		t.Fatal("a candidate is not a member")
	}
	// Members-only protocols stay closed to the candidate.
	member.Handle("/test/members/1", func(s network.Stream) { s.Close() })
	if s, err := joiner.NewStream(ctx, member.ID(), "/test/members/1"); err == nil {
		buf := make([]byte, 1)
		if _, rerr := s.Read(buf); rerr == nil {
			t.Fatal("a candidate used a members-only protocol")
		}
		s.Close()
	}
	// Refusal closes the connection and keeps the peer out.
	member.Gater().Refuse(joiner.ID())
	member.Enforce()
	if n := len(member.LibP2P().Network().ConnsToPeer(joiner.ID())); n != 0 {
		t.Fatalf("%d connections to a refused peer remain", n)
	}
	assertShutOut(ctx, t, joiner, member)
}

// assertShutOut checks that from cannot reach to: the dial may complete on
// the dialer's side (Noise finishes there first) but to drops the
// connection and no stream gets through.
func assertShutOut(ctx context.Context, t *testing.T, from, to *Host) {
	t.Helper()
	to.HandleAdmitted("/test/admitted/1", func(s network.Stream) { s.Write([]byte{1}); s.Close() })
	_ = connect(ctx, from, to)
	if s, err := from.NewStream(ctx, to.ID(), "/test/admitted/1"); err == nil {
		buf := make([]byte, 1)
		if _, rerr := s.Read(buf); rerr == nil {
			t.Fatalf("%s reached %s, which must not admit it", from.ID(), to.ID())
		}
		s.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(to.LibP2P().Network().ConnsToPeer(from.ID())) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still has a connection from %s", to.ID(), from.ID())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
