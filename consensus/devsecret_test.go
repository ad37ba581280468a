package consensus

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDevModeStaysLocal: a dev node refuses to listen beyond loopback
// without a join secret; with one, a joiner that lacks it (or has another)
// is refused with nothing changed, and one that has it joins.
func TestDevModeStaysLocal(t *testing.T) {
	base := t.TempDir()
	ctx := ctxT(t, time.Minute)
	if _, err := Open(ctx, Config{DataDir: filepath.Join(base, "open"), ListenAddrs: []string{"/ip4/0.0.0.0/tcp/0"}, DevMode: true, Logger: testLogger()}); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("dev node on 0.0.0.0 without a secret: %v", err)
	}
	secret := []byte("a dev cluster join secret")
	var nodes []*Node
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	})
	open := func(name, listen string, secret []byte) *Node {
		t.Helper()
		n, err := Open(ctx, Config{DataDir: filepath.Join(base, name), ListenAddrs: []string{listen}, DevMode: true,
			DevJoinSecret: secret, Raft: fastRaft(), Logger: testLogger().With("node", name)})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		nodes = append(nodes, n)
		return n
	}
	n0 := open("n0", "/ip4/0.0.0.0/tcp/0", secret) // allowed: it has a secret
	if err := n0.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	addr := ""
	for _, a := range n0.Addrs() {
		if strings.Contains(a.String(), "/ip4/127.0.0.1/") {
			addr = a.String()
		}
	}
	// A joiner without a secret stops before dialling: dev joins need one.
	if err := open("no-secret", "/ip4/127.0.0.1/tcp/0", nil).Join(ctx, addr); err == nil || !strings.Contains(err.Error(), "require a join secret") {
		t.Errorf("a joiner without a secret: %v, want a refusal naming the join secret", err)
	}
	j := open("another-secret", "/ip4/127.0.0.1/tcp/0", []byte("somebody else's secret"))
	if err := j.Join(ctx, addr); !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), "join secret") {
		t.Errorf("a joiner with another secret: %v, want a refusal naming the join secret", err)
	}
	if s, err := n0.Servers(); err != nil || len(s) != 1 {
		t.Fatalf("after the refused joins: %d servers (%v)", len(s), err)
	}
	j = open("member", "/ip4/127.0.0.1/tcp/0", secret)
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := j.Join(jctx, addr); err != nil {
		t.Fatalf("a joiner with the secret: %v", err)
	}
}

// TestDevJoinNeedsSecret: a dev node started without a join secret runs
// alone; a joiner (even one that has a secret) is refused by its leader with
// nothing changed in the cluster.
func TestDevJoinNeedsSecret(t *testing.T) {
	base := t.TempDir()
	ctx := ctxT(t, time.Minute)
	open := func(name string, secret []byte) *Node {
		t.Helper()
		n, err := Open(ctx, Config{DataDir: filepath.Join(base, name), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DevMode: true,
			DevJoinSecret: secret, Raft: fastRaft(), Logger: testLogger().With("node", name)})
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	lone := open("lone", nil)
	if err := lone.Bootstrap(ctx); err != nil {
		t.Fatalf("a dev node without a secret bootstraps alone: %v", err)
	}
	before := lone.raft.LastIndex()
	j := open("joiner", []byte("a secret the leader does not have"))
	err := j.Join(ctx, lone.Addrs()[0].String()+"/p2p/"+lone.PeerID().String())
	if !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), "require a join secret") {
		t.Fatalf("join to a dev node without a secret: %v, want a refusal", err)
	}
	if s, err := lone.Servers(); err != nil || len(s) != 1 {
		t.Fatalf("after the refused join: %d servers (%v)", len(s), err)
	}
	if got := lone.raft.LastIndex(); got != before {
		t.Fatalf("the refused join changed the log: last index %d -> %d", before, got)
	}
}
