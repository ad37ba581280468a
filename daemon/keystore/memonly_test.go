package keystore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outlayer/outlayer/consensus/p2p"
	"github.com/outlayer/outlayer/contracts"
)

// TestMemoryOnlyKeystore runs a three-node cluster whose keystores keep
// the master in memory only, as TDX nodes without a sealer do: joiners
// receive it from a member and store nothing; a restarted node receives
// it again; after every node restarted it is reported lost, requests are
// refused with that error, and no new master appears.
func TestMemoryOnlyKeystore(t *testing.T) {
	h := newHarness(t, nil, "")
	h.memoryOnly = true
	h.cluster(3)
	ctx := h.ctx

	st0 := h.nodes[0].ks.Status()
	if !st0.Ready || !st0.MemoryOnly || st0.Fingerprint == "" || !strings.Contains(st0.Sealing, "memory only") {
		t.Fatalf("bootstrap node status: %+v", st0)
	}
	fp := st0.Fingerprint
	master := bytes.Clone(h.nodes[0].ks.masterKey())

	id := Identity{Accessor: contracts.SecretAccessor{Repo: &contracts.RepoAccessor{Repo: "github.com/alice/app"}}, Owner: "alice.test", Profile: "default"}
	pub0, _, err := h.nodes[0].ks.PublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := EncryptSecrets(rand.Reader, pub0, []byte(`{"API_KEY":"sk-42"}`))
	if err != nil {
		t.Fatal(err)
	}
	checkNode := func(i int) {
		t.Helper()
		k := h.nodes[i].ks
		if st := k.Status(); !st.Ready || st.Fingerprint != fp || st.Lost {
			t.Fatalf("node %d status %+v, want ready with fingerprint %s", i, st, fp)
		}
		norm, err := id.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.decryptProfile(norm, blob)
		if err != nil || got["API_KEY"] != "sk-42" {
			t.Fatalf("node %d cannot decrypt a secret encrypted to the cluster key: %v %v", i, got, err)
		}
	}
	for i := range h.nodes {
		checkNode(i)
	}
	assertNothingStored(t, h, master)

	// One node restarts (the bootstrap node, the one that created the
	// master): it receives the master again from the others.
	for _, i := range []int{0, 2} {
		h.stop(i)
		h.start(i)
		if h.nodes[i].ks.Ready() {
			t.Fatalf("node %d holds a master right after a restart; it keeps none", i)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := h.nodes[i].ks.Run(rctx)
		cancel()
		if err != nil {
			t.Fatalf("node %d after a restart: %v", i, err)
		}
		checkNode(i)
	}
	assertNothingStored(t, h, master)

	// Every node restarts: nobody holds the master and nobody can recover
	// it. Each says so, and refuses secret requests with that error.
	for i := range h.nodes {
		h.stop(i)
	}
	// With one member unreachable, the others cannot know it restarted
	// (it may only be partitioned away), so they keep asking rather than
	// call the master lost.
	h.start(0)
	h.start(1)
	partial := make([]error, 2)
	var pwg sync.WaitGroup
	for i := range partial {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			partial[i] = h.nodes[i].ks.Run(rctx)
		}()
	}
	pwg.Wait()
	for i, err := range partial {
		if !errors.Is(err, ErrNotReady) || errors.Is(err, ErrMasterLost) || h.nodes[i].ks.Status().Lost {
			t.Fatalf("node %d with a member unreachable: Run = %v, status %+v; want still waiting", i, err, h.nodes[i].ks.Status())
		}
	}
	h.start(2)
	errs := make([]error, len(h.nodes))
	var wg sync.WaitGroup
	for i, n := range h.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			errs[i] = n.ks.Run(rctx)
		}()
	}
	wg.Wait()
	for i, n := range h.nodes {
		if !errors.Is(errs[i], ErrMasterLost) {
			t.Fatalf("node %d after a full restart: Run = %v, want ErrMasterLost", i, errs[i])
		}
		st := n.ks.Status()
		if st.Ready || !st.Lost || st.Fingerprint != "" || !strings.Contains(st.Error, "master secret lost: every node restarted and none could seal it") {
			t.Fatalf("node %d status after a full restart: %+v", i, st)
		}
		_, err := n.ks.SecretsFor(ctx, Request{Accessor: id.Accessor, Profile: id.Profile, Owner: id.Owner, Caller: "bob.test"})
		if !errors.Is(err, ErrMasterLost) || ErrorKind(err) != "secrets_unavailable" {
			t.Fatalf("node %d secret request after the master was lost: %v (kind %q)", i, err, ErrorKind(err))
		}
		if _, _, err := n.ks.PublicKey(id); !errors.Is(err, ErrMasterLost) {
			t.Fatalf("node %d public key after the master was lost: %v", i, err)
		}
	}
	// No node may create a replacement: Bootstrap refuses, and the
	// replicated fingerprint is still the old master's.
	if err := h.nodes[0].ks.Bootstrap(ctx); !errors.Is(err, ErrMasterExists) {
		t.Fatalf("Bootstrap on a cluster whose master was lost: %v, want ErrMasterExists", err)
	}
	for i, n := range h.nodes {
		have, err := n.cons.Store().Sealed(entryCheck)
		want, _ := fingerprint(master)
		if err != nil || !bytes.Equal(have, want) {
			t.Fatalf("node %d: the replicated fingerprint changed after the master was lost (%v)", i, err)
		}
		if n.ks.Ready() {
			t.Fatalf("node %d holds a master after the cluster lost it", i)
		}
	}
	assertNothingStored(t, h, master)
}

// assertNothingStored: no node has a sealing key file or a replicated
// copy of the master, and no file under any data directory contains the
// master's bytes.
func assertNothingStored(t *testing.T, h *harness, master []byte) {
	t.Helper()
	for i, n := range h.nodes {
		if n.cons == nil {
			continue
		}
		if names, err := n.cons.Store().SealedNames(entryNodePrefix); err != nil || len(names) != 0 {
			t.Fatalf("node %d's replica holds sealed copies %v (%v); memory-only nodes keep none", i, names, err)
		}
	}
	err := filepath.WalkDir(h.base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if d.Name() == SealKeyFile {
			t.Errorf("memory-only node wrote a sealing key file %s", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, master) {
			t.Errorf("%s contains the master secret in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMemoryOnlyConfig: a keystore is either sealed or memory-only.
func TestMemoryOnlyConfig(t *testing.T) {
	h := newHarness(t, nil, "")
	h.memoryOnly = true
	h.add()
	n := h.nodes[0]
	key, err := p2p.LoadOrCreateIdentity(n.dir)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := NewFileSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{Cluster: n.cons, Identity: key, Sealer: sealer, MemoryOnly: true},
		{Cluster: n.cons, Identity: key},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "exactly one of a Sealer and MemoryOnly") {
			t.Fatalf("New(sealer=%v, memoryOnly=%v) = %v, want a configuration error", cfg.Sealer != nil, cfg.MemoryOnly, err)
		}
	}
	// A fresh memory-only cluster: the bootstrap node creates the master,
	// since the replicated state shows there never was one.
	if err := n.cons.Bootstrap(h.ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.ks.Bootstrap(h.ctx); err != nil || !n.ks.Ready() {
		t.Fatalf("memory-only bootstrap: %v", err)
	}
}
