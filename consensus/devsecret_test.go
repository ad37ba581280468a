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
	for name, s := range map[string][]byte{"no secret": nil, "another secret": []byte("somebody else's secret")} {
		j := open(strings.ReplaceAll(name, " ", "-"), "/ip4/127.0.0.1/tcp/0", s)
		err := j.Join(ctx, addr)
		if !errors.Is(err, ErrJoinRefused) || !strings.Contains(err.Error(), "join secret") {
			t.Errorf("%s: %v, want a refusal naming the join secret", name, err)
		}
	}
	if s, err := n0.Servers(); err != nil || len(s) != 1 {
		t.Fatalf("after the refused joins: %d servers (%v)", len(s), err)
	}
	j := open("member", "/ip4/127.0.0.1/tcp/0", secret)
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := j.Join(jctx, addr); err != nil {
		t.Fatalf("a joiner with the secret: %v", err)
	}
}
