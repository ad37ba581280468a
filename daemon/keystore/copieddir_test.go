package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus"
)

// TestCopiedDataDirGetsNoMaster: with node identities in memory only (as
// outside dev mode), a member's data directory holds neither its key nor
// the master. A copy of it, started elsewhere, is a new identity: its join
// is refused (its attestation fails the policy) and it cannot obtain the
// master from a member.
func TestCopiedDataDirGetsNoMaster(t *testing.T) {
	h := newHarness(t, nil, "")
	h.memoryOnly, h.memoryIdentity = true, true
	h.cluster(2)
	member, honest := h.nodes[0], h.nodes[1]
	raw, err := honest.cons.Identity().Raw()
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string][]byte{"node key": raw[:32], "master secret": honest.ks.masterKey()} {
		err := filepath.WalkDir(honest.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err == nil && bytes.Contains(b, secret) {
				t.Errorf("%s holds the %s", path, name)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	copied := filepath.Join(h.base, "copy")
	if err := os.CopyFS(copied, os.DirFS(honest.dir)); err != nil {
		t.Fatal(err)
	}
	thiefCons, err := consensus.Open(h.ctx, consensus.Config{DataDir: copied, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		DevMode: true, MemoryIdentity: true, Verifier: h.verifier, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = thiefCons.Close() })
	if thiefCons.PeerID() == honest.cons.PeerID() {
		t.Fatal("the copied data directory started as the member it was copied from")
	}
	thief, err := New(Config{Cluster: thiefCons, Identity: thiefCons.Identity(), MemoryOnly: true, DevMode: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(thief.Close)
	thiefCons.Host().Gater().Allow(member.cons.PeerID(), time.Minute)
	thiefCons.Host().AddAddrs(member.cons.PeerID(), member.cons.Addrs())
	if m, err := thief.requestMaster(h.ctx, member.cons.PeerID()); err == nil {
		t.Fatalf("the copy received %d bytes of master secret", len(m))
	} else {
		t.Logf("the copy asking a member for the master: %v", err)
	}
	// Nor can it join: its attestation does not satisfy the policy.
	h.verifier.mu.Lock()
	h.verifier.refuse[thiefCons.PeerID()] = true
	h.verifier.mu.Unlock()
	if err := thiefCons.Join(h.ctx, h.addr(0)); !errors.Is(err, consensus.ErrJoinRefused) {
		t.Fatalf("the copy's join: %v, want ErrJoinRefused", err)
	}
	if thief.Ready() {
		t.Fatal("the copy's keystore became ready")
	}
}
