package daemon_test

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outlayer/outlayer/attest"
	"github.com/outlayer/outlayer/attest/attesttest"
	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/daemon/keystore"
	"github.com/outlayer/outlayer/store"
)

// TestProductionCluster runs three daemon nodes outside dev mode — TDX join
// verification with a measurement policy, quotes from the test PCK chain,
// memory-only identities and keystore — on loopback with the devchain. The
// cluster resolves a request with a TDX-attested result; a node whose quote
// is outside the policy (started on a copy of a member's data directory) is
// refused at start with the cluster unchanged; the leader, killed and
// restarted on its own directory, comes back as a new identity that
// replaces the old one and receives the keystore master from a member.
func TestProductionCluster(t *testing.T) {
	tdx := newTestTDX(t)
	ca, goodTD, production := tdx.ca, tdx.goodTD, tdx.production
	var other attest.Measurements
	other.MRTD[0] = 0x53

	w := newWorld(t, 50*time.Millisecond, 600)
	w.startCluster(3, production(goodTD))
	for i := range 3 {
		var ks keystore.Status
		w.eventually(30*time.Second, "every keystore ready", func() bool {
			getJSON(t, "http://"+w.node(i).HTTPAddr()+"/v1/keystore/status", &ks)
			return ks.Ready
		})
		if !ks.MemoryOnly {
			t.Errorf("node %d keystore is not memory-only outside dev mode: %+v", i, ks)
		}
		if _, err := os.Stat(filepath.Join(w.cfgs[i].DataDir, "node.key")); err == nil {
			t.Errorf("node %d keeps node.key on disk outside dev mode", i)
		}
	}
	var st daemon.Status
	getJSON(t, "http://"+w.node(0).HTTPAddr()+"/status", &st)
	if st.Attestation != "every node joined with verified attestation" {
		t.Errorf("/status attestation %q", st.Attestation)
	}

	// Outside dev mode WasmUrl downloads are https-only and never reach
	// loopback: the program is in the cluster's WASM cache, as an earlier
	// request would have left it.
	echo := programs["echo"]
	w.applyIdempotent(w.node(0), &consensus.PutBlob{Hash: store.BlobHash(sha256.Sum256(echo)), Data: echo}, 30*time.Second)
	limits := contracts.ResourceLimits{MaxInstructions: 200_000_000, MaxMemoryMB: 32, MaxExecutionSeconds: 10}
	deposit := add(contracts.DefaultPricing().Estimate(limits), nearAmount(t, "0.5"))
	resolve := func(input string) {
		t.Helper()
		o := parseOutcome(t, w.final(w.request(w.wasmSource("echo"), input, limits, contracts.FormatText, deposit), w.alice.AccountID(), 2*time.Minute))
		if len(o.completed) != 1 || !o.completed[0].Success {
			t.Fatalf("request %d: completed %+v", o.requestID, o.completed)
		}
		j := w.job(o.requestID, 10*time.Second)
		var view daemon.JobView
		getJSON(t, "http://"+w.anyNode().HTTPAddr()+"/requests/"+itoa(o.requestID)+"?consistent=1", &view)
		if view.ResultAttestation == nil || view.ResultAttestation.Kind != attest.KindTDX {
			t.Fatalf("request %d (%s): result attestation %+v, want TDX", o.requestID, j.Status, view.ResultAttestation)
		}
	}
	resolve("production hello")

	// A copy of node 1's data directory, started with a TD outside the
	// policy, is refused; nothing in the cluster changes.
	leader := w.leader()
	lc := w.node(leader).Consensus()
	members := func() string {
		s, err := lc.Servers()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := lc.Store().Nodes()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, srv := range s {
			out = append(out, "server "+srv.ID.String())
		}
		for _, r := range recs {
			out = append(out, "record "+r.PeerID)
		}
		return strings.Join(out, "\n")
	}
	before := members()
	copied := filepath.Join(t.TempDir(), "copy")
	copyDataDir(t, w.cfgs[1].DataDir, copied)
	thief := w.cfgs[1]
	thief.DataDir, thief.HTTPAddr, thief.OperatorKey = copied, "127.0.0.1:0", w.nodeKey(3)
	production(attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: other}})(&thief)
	if n, err := daemon.Start(w.ctx, thief); err == nil {
		_ = n.Kill()
		t.Fatal("a node outside the policy, on a copy of a member's data directory, started")
	} else if !errors.Is(err, consensus.ErrJoinRefused) {
		t.Fatalf("the copy's start: %v, want ErrJoinRefused", err)
	}
	// (The log itself moves on: the leader keeps polling the chain.)
	if after := members(); after != before {
		t.Fatalf("the refused node changed the cluster's membership:\n%s\n->\n%s", before, after)
	}

	// The leader crashes and comes back on its own data directory: a new
	// identity, admitted by a fresh quote, replacing the old one.
	oldID := w.node(leader).PeerID()
	w.kill(leader)
	w.restart(leader)
	restarted := w.node(leader)
	if restarted.PeerID() == oldID {
		t.Fatal("the restarted node kept its identity outside dev mode")
	}
	w.eventually(30*time.Second, "the old identity replaced in every view", func() bool {
		for i := range 3 {
			s, err := w.node(i).Consensus().Servers()
			if err != nil || len(s) != 3 {
				return false
			}
			for _, srv := range s {
				if srv.ID.String() == oldID {
					return false
				}
			}
		}
		return true
	})
	var ks keystore.Status
	w.eventually(30*time.Second, "the restarted node's keystore ready", func() bool {
		getJSON(t, "http://"+restarted.HTTPAddr()+"/v1/keystore/status", &ks)
		return ks.Ready
	})
	if !strings.Contains(ks.Sealing, "memory only") {
		t.Errorf("restarted keystore: %+v", ks)
	}
	resolve("after the restart")
}

// copyDataDir copies a data directory's regular files, as a stolen disk
// would carry them (the admin socket is not a file to copy).
func copyDataDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o700)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testTDX is a TDX test PCK chain and a policy that admits one
// measurement: goodTD quotes with it.
type testTDX struct {
	ca       *attesttest.CA
	verifier attest.JoinVerifier
	goodTD   attesttest.Attester
}

func newTestTDX(t *testing.T) testTDX {
	t.Helper()
	ca, err := attesttest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var good attest.Measurements
	good.MRTD[0], good.RTMR[0][0] = 0x51, 0x52
	policy := &attest.Policy{MRTD: []attest.Measurement{good.MRTD}, RTMR0: []attest.Measurement{good.RTMR[0]}}
	return testTDX{ca: ca, verifier: attest.JoinVerifier{V: attest.NewVerifier(attest.VerifierConfig{Policy: policy, TrustedRoots: ca.Roots()})},
		goodTD: attesttest.Attester{CA: ca, TD: attesttest.TD{Measurements: good}}}
}

// production makes a node run outside dev mode (TDX joins under the
// policy, memory-only identity and keystore) as td.
func (x testTDX) production(td attesttest.Attester) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.DevMode, c.DevJoinSecret, c.Build.AllowLocalRepos = false, nil, false
		c.Verifier, c.Attester, c.ResultAttester = x.verifier, attest.JoinAttester{A: td}, td
	}
}
