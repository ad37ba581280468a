package consensus

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/store"
)

// TestMemoryIdentity runs a production (non-dev, TDX test chain) cluster:
// no node's key is anywhere in its data directory; a copy of a member's data
// directory, started elsewhere, is a stranger with a new key whose join is
// refused without a quote the policy allows, with nothing changed; and the
// member itself, restarted on its own directory, comes back as a new
// identity, is admitted by attestation and replaces its old one.
func TestMemoryIdentity(t *testing.T) {
	ca, err := attesttest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var good, other attest.Measurements
	good.MRTD[0] = 0x11
	other.MRTD[0] = 0x33
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}}
	verifier := attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})}
	goodTD := attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: good}}}
	badTD := attest.JoinAttester{A: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: other}}}
	ctx := ctxT(t, 3*time.Minute)
	base := t.TempDir()
	var nodes []*Node
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	})
	open := func(dir string, a Attester) *Node {
		t.Helper()
		n, err := Open(ctx, Config{DataDir: dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Verifier: verifier, Attester: a, Raft: fastRaft(), Logger: testLogger().With("dir", filepath.Base(dir))})
		if err != nil {
			t.Fatalf("open %s: %v", dir, err)
		}
		nodes = append(nodes, n)
		return n
	}
	dir := func(name string) string { return filepath.Join(base, name) }
	n0 := open(dir("n0"), goodTD)
	if err := n0.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	n1 := open(dir("n1"), goodTD)
	if err := n1.Join(ctx, n0.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	n2 := open(dir("n2"), goodTD)
	if err := n2.Join(ctx, n0.Addrs()[0].String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 and n2 know each other's addresses", func() bool {
		return len(n1.host.PeerAddrs(n2.PeerID())) > 0 && len(n2.host.PeerAddrs(n1.PeerID())) > 0
	})

	// No key, in any form, anywhere in the data directories.
	for i, n := range []*Node{n0, n1, n2} {
		raw, err := n.key.Raw()
		if err != nil {
			t.Fatal(err)
		}
		assertNotInDir(t, dir([]string{"n0", "n1", "n2"}[i]), raw[:32])
	}

	// n1 stops; its directory is copied (a stolen disk) and started on
	// another machine.
	oldID := n1.PeerID()
	// Wait for n1's own peers.json to name the others (it is written on
	// membership changes), so the restarted node can find them.
	waitFor(t, 10*time.Second, "n1's peers.json names n0 and n2", func() bool {
		raw, err := os.ReadFile(filepath.Join(dir("n1"), peersFile))
		return err == nil && bytes.Contains(raw, []byte(n0.PeerID().String())) && bytes.Contains(raw, []byte(n2.PeerID().String()))
	})
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	before := n0.raft.LastIndex()
	for name, a := range map[string]Attester{"a TD outside the policy": badTD, "no quote": noEvidence{}} {
		copied := dir("copy of n1, " + name)
		if err := os.CopyFS(copied, os.DirFS(dir("n1"))); err != nil {
			t.Fatal(err)
		}
		thief := open(copied, a)
		if rejoin, prev := thief.Rejoin(); !rejoin || prev != oldID {
			t.Fatalf("%s: the copy's start: rejoin %v, previous %s, want %s", name, rejoin, prev, oldID)
		}
		if thief.PeerID() == oldID {
			t.Fatalf("%s: the copied directory started as the member it was copied from", name)
		}
		err := thief.Join(ctx)
		if !errors.Is(err, ErrJoinRefused) {
			t.Errorf("%s: the copy's join: %v, want ErrJoinRefused", name, err)
		}
		if err := thief.Close(); err != nil {
			t.Fatal(err)
		}
	}
	servers, err := n0.Servers()
	if err != nil || len(servers) != 3 || !hasServer(servers, oldID) {
		t.Fatalf("after the copy's refused joins: servers %v (%v), want the three members", servers, err)
	}
	// A leader elected meanwhile (a loaded machine) appends its no-op and
	// barrier; nothing else may have been written.
	for i := before + 1; i <= n0.raft.LastIndex(); i++ {
		var e raft.Log
		if err := n0.logStore.GetLog(i, &e); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if e.Type != raft.LogNoop && e.Type != raft.LogBarrier {
			t.Errorf("the copy's refused joins wrote to the log: entry %d is a %s", i, e.Type)
		}
	}

	// n1 restarts on its own directory, but its first attempt to get back
	// in fails (here: refused). The state is gone; the next start still
	// owes the rejoin and still replaces the old identity.
	failed := open(dir("n1"), badTD)
	if err := failed.Join(ctx); !errors.Is(err, ErrJoinRefused) {
		t.Fatalf("the failing restart's join: %v", err)
	}
	if err := failed.Close(); err != nil {
		t.Fatal(err)
	}
	// Then it comes back for good: a new identity, admitted again,
	// replacing the old one.
	n1 = open(dir("n1"), goodTD)
	if n1.PeerID() == oldID {
		t.Fatal("the restarted node kept its identity")
	}
	if rejoin, prev := n1.Rejoin(); !rejoin || prev != oldID {
		t.Fatalf("after a failed rejoin, the next start: rejoin %v, previous %s, want %s", rejoin, prev, oldID)
	}
	start := time.Now()
	if err := n1.Join(ctx); err != nil {
		t.Fatalf("the restarted node's join (through the members it knew): %v", err)
	}
	t.Logf("restart with a new identity: joined and replaced the old one in %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "the old identity replaced by the new one, as a voter", func() bool {
		s, err := n0.Servers()
		if err != nil || len(s) != 3 || hasServer(s, oldID) || !hasServer(s, n1.PeerID()) {
			return false
		}
		for _, srv := range s {
			if srv.ID == n1.PeerID() && !srv.Voter {
				return false
			}
		}
		return true
	})
	recs, err := n0.Store().Nodes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.PeerID == oldID.String() {
			t.Errorf("the old identity is still in the node table: %+v", r)
		}
	}
	if _, err := n1.Apply(ctx, &AdvanceCursor{Cursor: store.Cursor{Height: 7}}); err != nil {
		t.Fatalf("the restarted node cannot write through the cluster: %v", err)
	}
}

// TestDevNodeKeyRefusedInProduction: a data directory holding a node.key
// (a dev node's, or one put there) does not start outside dev mode.
func TestDevNodeKeyRefusedInProduction(t *testing.T) {
	d := t.TempDir()
	if _, err := p2p.LoadOrCreateIdentity(d); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30*time.Second)
	_, err := Open(ctx, Config{DataDir: d, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Verifier: noVerifier{}, Attester: noEvidence{}, Logger: testLogger()})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("memory only")) {
		t.Fatalf("production node on a directory with node.key: %v", err)
	}
}

type noVerifier struct{}

func (noVerifier) VerifyJoin(_ context.Context, _ peer.ID, _, _ []byte) ([]byte, error) {
	return nil, errors.New("no")
}

func hasServer(servers []Server, id peer.ID) bool {
	for _, s := range servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// assertNotInDir fails if any file under dir contains secret.
func assertNotInDir(t *testing.T, dir string, secret []byte) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, secret) {
			t.Errorf("%s holds the node's private key", path)
		}
		if d.Name() == p2p.KeyFile {
			t.Errorf("%s exists outside dev mode", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
