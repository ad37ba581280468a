package daemon_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/daemon"
	"github.com/outlayer/outlayer/store"
)

// agreeLimits are a small echo request's limits.
var agreeLimits = contracts.ResourceLimits{MaxInstructions: 50_000_000, MaxMemoryMB: 64, MaxExecutionSeconds: 5}

// Three nodes, k = 2; the leader lies about every output. Every request is
// still answered with the true output: the liar is outvoted by the two
// honest nodes, its dissent is recorded on each request it ran and counted,
// and after DissentLimit dissents in a row it is no longer assigned.
func TestRiggedNodeIsOutvotedAndStopsBeingAssigned(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	var rigged atomic.Int32
	rigged.Store(-1)
	i := 0
	w.startCluster(3, func(c *daemon.Config) {
		c.Agreement = 2
		c.DissentLimit = 2
		me := int32(i)
		i++
		daemon.SetRigResult(c, func(r *store.Result) {
			if rigged.Load() == me && r.Success {
				r.Output = []byte("FORGED " + string(r.Output))
			}
		})
	})
	w.requireSignatures(2)
	liar := w.leader()
	rigged.Store(int32(liar))
	liarID := w.node(liar).PeerID()
	liarKey := executorKeyOf(t, w.node(liar))
	deposit := add(contracts.DefaultPricing().Estimate(agreeLimits), nearAmount(t, "0.01"))

	// One at a time, so that the leader (preferred for placement) runs each
	// request first until it is excluded.
	const n = 5
	var ran int
	for i := range n {
		h := w.request(w.wasmSource("echo"), "msg-"+itoa(uint64(i)), agreeLimits, contracts.FormatText, deposit)
		fo := w.final(h, w.alice.AccountID(), time.Minute)
		if err := fo.Err(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		o := parseOutcome(t, fo)
		j := checkOnce(t, w, o, "msg-"+itoa(uint64(i)))
		if j.Agreement == nil || j.Agreement.K != 2 || j.RequiredSignatures != 2 {
			t.Fatalf("request %d: agreement %+v, contract k %d, want 2", i, j.Agreement, j.RequiredSignatures)
		}
		// The contract checked two signatures, neither the liar's.
		signers := w.resolveSigners(j)
		if len(signers) != 2 || signers[0] == liarKey || signers[1] == liarKey {
			t.Fatalf("request %d: result_signed by %v (liar %s)", i, signers, liarKey)
		}
		maj := j.Agreement.Majority()
		if len(maj) < 2 || string(j.Result.Output) != "msg-"+itoa(uint64(i)) {
			t.Fatalf("request %d: majority %+v", i, maj)
		}
		for _, r := range maj {
			if r.Node == liarID {
				t.Fatalf("request %d: the liar is in the majority", i)
			}
		}
		if j.Agreement.Ran(liarID) {
			ran++
			if len(j.Agreement.Dissent) != 1 || j.Agreement.Dissent[0].Node != liarID || !strings.Contains(j.Agreement.Dissent[0].Differs, "output") {
				t.Fatalf("request %d: dissent %+v, want the liar's output", i, j.Agreement.Dissent)
			}
		} else if len(j.Agreement.Dissent) != 0 {
			t.Fatalf("request %d: dissent %+v without the liar", i, j.Agreement.Dissent)
		}
	}
	if ran != 2 {
		t.Fatalf("the liar ran %d requests; with a dissent limit of 2 it should have run exactly the first 2", ran)
	}
	// A program that prints its random numbers: the two honest executors
	// derive the same private seed from the keystore master, so they agree.
	h := w.request(w.wasmSource("envinfo"), "", agreeLimits, contracts.FormatJSON, deposit)
	j := w.job(parseOutcome(t, w.final(h, w.alice.AccountID(), time.Minute)).requestID, 15*time.Second)
	if j.Status != store.StatusResolved || j.Result == nil || !j.Result.Success || len(j.Agreement.Majority()) != 2 ||
		!strings.Contains(string(j.Result.Output), `"crypto_rand"`) {
		t.Fatalf("random-number program: %s %s, agreement %+v", j.Status, j.Error, j.Agreement)
	}

	// Resolve gas is sized from the payload: a small resolve and one with a
	// 8 KB output (submit_execution_output_and_resolve) each attach more
	// than they burn, and far less than the old flat 300 Tgas.
	bigIn := strings.Repeat("0123456789abcdef", 8_000/16) // the contract takes at most 10 KiB of input
	// The deposit also covers the request's storage in the contract.
	hb := w.request(w.wasmSource("echo"), bigIn, agreeLimits, contracts.FormatText, add(deposit, nearAmount(t, "0.5")))
	fb := w.final(hb, w.alice.AccountID(), time.Minute)
	if err := fb.Err(); err != nil {
		t.Fatalf("the 8 KB request: %v", err)
	}
	bj := checkOnce(t, w, parseOutcome(t, fb), bigIn)
	for _, c := range []struct {
		name string
		job  *store.Job
	}{{"small", j}, {"8 KB output", bj}} {
		burnt, attached := w.resolveGas(c.job)
		t.Logf("%s resolve (k = 2): burnt %.1f Tgas of %.1f attached", c.name, float64(burnt)/1e12, float64(attached)/1e12)
		if burnt == 0 || burnt >= attached || attached >= 100*near.TGas {
			t.Errorf("%s resolve: burnt %d of %d attached", c.name, burnt, attached)
		}
	}

	stats, err := w.anyNode().Consensus().Store().NodeAgreements()
	if err != nil {
		t.Fatal(err)
	}
	if s := stats[liarID]; s.Dissented != 2 || s.Streak != 2 || s.Agreed != 0 {
		t.Fatalf("the liar's counters: %+v", s)
	}
	for id, s := range stats {
		if id != liarID && s.Dissented != 0 {
			t.Fatalf("honest node %s counted as dissenting: %+v", id, s)
		}
	}
	st, err := w.node(liar).ClusterStatus()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sn := range st.Nodes {
		if sn.PeerID == liarID {
			found = true
			if sn.Agreement == nil || sn.Agreement.Dissented != 2 || sn.Assigned {
				t.Fatalf("/status shows the liar as %+v", sn)
			}
		}
	}
	if !found {
		t.Fatal("the liar is not in /status")
	}
}

// 200 requests at once with k = 2 of 3: every one is settled on chain
// exactly once, by one resolve transaction each: the chain refuses none.
func TestTwoHundredAgreeingRequestsNoRefusedResolve(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, func(c *daemon.Config) { c.Agreement = 2 })
	w.requireSignatures(2)
	term0 := w.raftTerm()
	const n = 200
	deposit := add(contracts.DefaultPricing().Estimate(agreeLimits), nearAmount(t, "0.01"))
	hashes := make([]near.CryptoHash, n)
	for i := range n {
		hashes[i] = w.request(w.wasmSource("echo"), "msg-"+itoa(uint64(i)), agreeLimits, contracts.FormatText, deposit)
	}
	for i, o := range w.finals(hashes, w.alice.AccountID(), 4*time.Minute) {
		var got string
		if len(o.completed) != 1 || !o.completed[0].Success || o.out.DecodeResult(&got) != nil || got != "msg-"+itoa(uint64(i)) {
			t.Errorf("request %d: %d completions, output %q", i, len(o.completed), got)
		}
	}
	w.eventually(20*time.Second, "every request closed in the replica", func() bool {
		counts, _ := w.anyNode().Consensus().Store().Counts()
		return counts[store.StatusResolved]+counts[store.StatusExpired] == n
	})
	counts, _ := w.anyNode().Consensus().Store().Counts()
	if counts[store.StatusResolved] != n {
		t.Errorf("%d of %d recorded as resolved: %v", counts[store.StatusResolved], n, counts)
	}
	page, err := w.anyNode().Consensus().Store().Latest(store.Page{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		if j.Agreement == nil || len(j.Agreement.Majority()) < 2 {
			t.Fatalf("request %d resolved without two agreeing executors: %+v", j.ID, j.Agreement)
		}
	}
	// A leader change (elections happen on a machine this loaded) hands
	// the new leader requests its predecessor may have resolved without
	// recording it: it checks the contract's state before resolving them
	// (resolver.inherited), so none is refused then either.
	if term := w.raftTerm(); term != term0 {
		t.Logf("leadership changed during the run (Raft term %s -> %s)", term0, term)
	}
	for i := range 3 {
		if v, ok := daemon.MetricValue(w.node(i), "outlayer_resolves_refused_total"); !ok || v != 0 {
			t.Errorf("node %d: %v refused resolve transactions (metric found: %t)", i, v, ok)
		}
	}
}

// raftTerm is the Raft term a running node reports.
func (w *world) raftTerm() string {
	return w.anyNode().Consensus().Stats()["term"]
}

// resolveGas is the gas request j's resolve transaction burnt (the
// transaction and its receipts) and the gas it attached.
func (w *world) resolveGas(j *store.Job) (burnt, attached uint64) {
	w.t.Helper()
	h, err := near.ParseCryptoHash(j.ResolveTx)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.cl.TxStatus(w.ctx, h, w.operator.AccountID(), near.TxFinal)
	if err != nil {
		w.t.Fatalf("resolve tx %s: %v", j.ResolveTx, err)
	}
	burnt = out.TransactionOutcome.Outcome.GasBurnt
	for _, r := range out.ReceiptsOutcome {
		if r.Outcome.ExecutorID == w.outlayer {
			burnt += r.Outcome.GasBurnt
		}
	}
	for _, a := range out.Transaction.Actions {
		if fc, ok := a.Action.(near.FunctionCall); ok {
			attached += fc.Gas
		}
	}
	return burnt, attached
}

// requireSignatures registers every node's executor key and makes every
// new request need k signatures (fixture.World.RequireSignatures).
func (w *world) requireSignatures(k uint64) {
	w.t.Helper()
	var nodes []*daemon.Node
	for i := range w.nodes {
		nodes = append(nodes, w.node(i))
	}
	if err := w.fw.RequireSignatures(w.ctx, k, nodes); err != nil {
		w.t.Fatal(err)
	}
}

// executorKeyOf is the key node n signs result claims with, from its
// /status.
func executorKeyOf(t testing.TB, n *daemon.Node) string {
	t.Helper()
	st, err := n.ClusterStatus()
	if err != nil || st.ExecutorKey == "" {
		t.Fatalf("executor key: %q %v", st.ExecutorKey, err)
	}
	return st.ExecutorKey
}

// resolveSigners are the executor keys the contract's result_signed event
// names for request j's resolve.
func (w *world) resolveSigners(j *store.Job) []string {
	w.t.Helper()
	h, err := near.ParseCryptoHash(j.ResolveTx)
	if err != nil {
		w.t.Fatal(err)
	}
	out, err := w.cl.TxStatus(w.ctx, h, w.operator.AccountID(), near.TxFinal)
	if err != nil {
		w.t.Fatal(err)
	}
	evs, err := contracts.OutLayerEvents(out.Logs())
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Event == contracts.EventResultSigned {
			var rs contracts.ResultSigned
			if err := ev.Decode(ev.Event, &rs); err != nil {
				w.t.Fatal(err)
			}
			return rs.Signers
		}
	}
	return nil
}

// k = 2 of 3: the node running the request dies mid-run. Its lease runs
// out, the two others execute, and the request is resolved once, with the
// two survivors' signatures.
func TestAgreementExecutorKilledStillResolvesOnce(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, func(c *daemon.Config) {
		c.Agreement = 2
		c.BuildLease = 5 * time.Second
		c.CompileLease = 5 * time.Second
	})
	w.requireSignatures(2)
	h := w.request(w.wasmSource("spin"), "40000", spinLimits, contracts.FormatText, nearAmount(t, "1"))
	j := w.waitAssigned()
	victim := w.indexOf(j.Node)
	if victim < 0 {
		t.Fatalf("request assigned to unknown node %s", j.Node)
	}
	victimKey := executorKeyOf(t, w.node(victim))
	w.kill(victim)
	done := checkOnce(t, w, parseOutcome(t, w.final(h, w.alice.AccountID(), 2*time.Minute)), "")
	maj := done.Agreement.Majority()
	if len(maj) != 2 || done.Agreement.Ran(j.Node) {
		t.Fatalf("agreement %+v: want the two survivors", done.Agreement)
	}
	signers := w.resolveSigners(done)
	if len(signers) != 2 || signers[0] == victimKey || signers[1] == victimKey {
		t.Fatalf("result_signed by %v (killed: %s)", signers, victimKey)
	}
}

// k = 2 of 3: the leader dies while the request is between executors. The
// new leader finishes the agreement and the chain settles the request
// exactly once.
func TestAgreementLeaderKilledStillResolvesOnce(t *testing.T) {
	w := newWorld(t, 50*time.Millisecond, 2400)
	w.startCluster(3, func(c *daemon.Config) {
		c.Agreement = 2
		c.BuildLease = 5 * time.Second
		c.CompileLease = 5 * time.Second
	})
	w.requireSignatures(2)
	var stats0 contracts.Stats
	if err := w.cl.ViewFunction(w.ctx, w.outlayer, contracts.MethodGetStats, nil, &stats0); err != nil {
		t.Fatal(err)
	}
	h := w.request(w.wasmSource("spin"), "40000", spinLimits, contracts.FormatText, nearAmount(t, "1"))
	w.waitAssigned()
	old := w.leader()
	w.kill(old)
	o := parseOutcome(t, w.final(h, w.alice.AccountID(), 2*time.Minute))
	done := checkOnce(t, w, o, "")
	if len(done.Agreement.Majority()) != 2 || len(w.resolveSigners(done)) != 2 {
		t.Fatalf("agreement %+v", done.Agreement)
	}
	var stats contracts.Stats
	if err := w.cl.ViewFunction(w.ctx, w.outlayer, contracts.MethodGetStats, nil, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.TotalExecutions != stats0.TotalExecutions+1 {
		t.Fatalf("contract settled %d executions, want 1", stats.TotalExecutions-stats0.TotalExecutions)
	}
	for i := range 3 {
		if nd := w.node(i); nd != nil {
			if v, _ := daemon.MetricValue(nd, "outlayer_resolves_refused_total"); v != 0 {
				t.Errorf("node %d: %v refused resolves", i, v)
			}
		}
	}
}

// Three nodes, k = 2 of 3 required by the contract; two of them lie, each
// its own way, so the three executors return three outcomes and no strict
// majority can form. The cluster fails the request at once, two members
// sign that failure, and the contract resolves it as a failure (the caller
// charged the base fee only) long before the yield timeout would have.
// A member asked to sign a failure its replica does not show refuses.
func TestNoMajorityFailureIsSignedAndResolvedPromptly(t *testing.T) {
	const yield = 2400
	w := newWorld(t, 50*time.Millisecond, yield)
	i := 0
	w.startCluster(3, func(c *daemon.Config) {
		c.Agreement = 2
		me := i
		i++
		if me < 2 {
			daemon.SetRigResult(c, func(r *store.Result) {
				if r.Success {
					r.Output = []byte("FORGED-" + itoa(uint64(me)) + " " + string(r.Output))
				}
			})
		}
	})
	w.requireSignatures(2)
	pricing := contracts.DefaultPricing()
	deposit := add(pricing.Estimate(agreeLimits), nearAmount(t, "0.01"))
	h := w.request(w.wasmSource("echo"), "split", agreeLimits, contracts.FormatText, deposit)
	o := parseOutcome(t, w.final(h, w.alice.AccountID(), time.Minute))
	if len(o.completed) != 1 {
		t.Fatalf("%d completion events, want 1", len(o.completed))
	}
	ev := o.completed[0]
	if ev.Success || ev.TimedOut || ev.ErrorMessage == nil || !strings.Contains(*ev.ErrorMessage, "disagreed (3 outcomes: 1 + 1 + 1)") {
		t.Fatalf("completion %+v (%v): want a resolved failure saying the executors disagreed", ev, ev.ErrorMessage)
	}
	if ev.PaymentCharged != pricing.BaseFee || ev.PaymentRefunded != sub(deposit, pricing.BaseFee) {
		t.Errorf("charged %s refunded %s, want the base fee %s charged", ev.PaymentCharged, ev.PaymentRefunded, pricing.BaseFee)
	}
	j := w.job(o.requestID, 15*time.Second)
	if j.Status != store.StatusResolved || j.ResolveTx == "" || j.Agreement == nil || len(j.Agreement.Results) != 3 {
		t.Fatalf("replica: %s %q, agreement %+v", j.Status, j.Error, j.Agreement)
	}
	signers := w.resolveSigners(j)
	if len(signers) != 2 || signers[0] == signers[1] {
		t.Fatalf("the failure was resolved with signatures by %v, want 2 members", signers)
	}
	st, err := w.cl.Status(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := st.SyncInfo.LatestBlockHeight - j.BlockHeight
	t.Logf("request at block %d, failure resolved and final by block %d (%d blocks; the yield timeout is %d)", j.BlockHeight, st.SyncInfo.LatestBlockHeight, took, yield)
	if took > yield/4 {
		t.Errorf("the failure took %d blocks, not well before the %d-block yield timeout", took, yield)
	}

	// Asked to sign a failure of a request its replica shows resolved, or
	// of one it does not know, a member refuses.
	hash := [32]byte{1}
	for _, id := range []uint64{o.requestID, o.requestID + 1000} {
		if key, err := daemon.AskFailureSignature(w.node(0), w.node(1), id, hash); err == nil || !strings.Contains(err.Error(), "refused to sign") {
			t.Errorf("request %d: signed by %s (%v), want a refusal", id, key, err)
		}
	}
}
