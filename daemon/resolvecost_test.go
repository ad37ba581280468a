package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/consensus"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

type fakeKeys struct {
	view *near.AccessKeyView
	err  error
}

func (f fakeKeys) ViewAccessKey(context.Context, string, near.PublicKey, near.BlockReference) (*near.AccessKeyView, error) {
	return f.view, f.err
}

func keyWithAllowance(a *near.U128) *near.AccessKeyView {
	v := &near.AccessKeyView{}
	v.Permission.FunctionCall = &near.FunctionCallPermission{Allowance: a, ReceiverID: "outlayer.test"}
	return v
}

// The node reads its operator key's allowance and says when it runs low,
// cannot be read, or the chain refused a resolve for want of it.
func TestOperatorKeyAllowanceWatched(t *testing.T) {
	plenty, _ := near.OneNEAR.Mul64(10)
	low, _ := lowAllowance().Sub(near.NewU128(1))
	cases := []struct {
		name      string
		keys      fakeKeys
		warn      string
		unlimited bool
		gauge     float64
	}{
		{"plenty", fakeKeys{view: keyWithAllowance(&plenty)}, "", false, 10},
		{"low", fakeKeys{view: keyWithAllowance(&low)}, "less than 100 resolves", false, yoctoToNEAR(low)},
		{"unlimited", fakeKeys{view: keyWithAllowance(nil)}, "", true, -1},
		{"unreadable", fakeKeys{err: errors.New("key not found")}, "could not read the operator key", false, 0},
	}
	for _, c := range cases {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
		w := &keyWatch{chain: c.keys, account: "op.test", key: near.PublicKeyFromEd25519(make([]byte, 32)), every: time.Hour, gauge: g, log: quietLog()}
		w.check(context.Background())
		st := w.status()
		if !strings.Contains(st.Warning, c.warn) || (c.warn == "") != (st.Warning == "") || st.Unlimited != c.unlimited || st.CheckedAt.IsZero() {
			t.Errorf("%s: status %+v", c.name, st)
		}
		if v := gaugeValue(g); v != c.gauge {
			t.Errorf("%s: gauge %v, want %v", c.name, v, c.gauge)
		}
		w.exhausted(errors.New("NotEnoughAllowance"))
		if !strings.Contains(w.status().Warning, "cannot pay") {
			t.Errorf("%s: after a refusal: %+v", c.name, w.status())
		}
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	fs, _ := reg.Gather()
	return fs[0].GetMetric()[0].GetGauge().GetValue()
}

// A resolve refused for want of allowance is logged, counted and shown,
// then retried later (another node may lead by then), not silently.
func TestResolverReportsExhaustedAllowance(t *testing.T) {
	j := doneJob("Text", &store.Result{Success: true, Output: []byte("x")})
	chain := &fakeChain{call: func(string, any) (*near.FinalExecutionOutcome, error) {
		return nil, errors.New(`transaction refused: {"InvalidTxError":{"InvalidAccessKeyError":{"NotEnoughAllowance":{}}}}`)
	}}
	kw := &keyWatch{gauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}), log: quietLog()}
	r := (&resolver{replica: newFakeReplica(j), propose: &fakeProposer{}, chain: chain, sender: chain, contract: "outlayer.test",
		tip: &chainTip{}, warm: newWarmSet(), metrics: newMetrics(), log: quietLog(), keys: kw}).init()
	r.resolveOne(context.Background(), j)
	if !strings.Contains(kw.status().Warning, "allowance") {
		t.Fatalf("status after the refusal: %+v", kw.status())
	}
	if r.retryAt[j.ID].IsZero() {
		t.Fatal("no retry scheduled")
	}
}

// A resolve whose send timed out is not sent again while its fate is
// unknown (that drew refused duplicates): only once the chain still does
// not know it resendAfter after the send.
func TestResolverDoesNotResendWhileTheFirstMayLand(t *testing.T) {
	j := doneJob("Text", &store.Result{Success: true, Output: []byte("x")})
	h := near.CryptoHash{7}
	status := func(near.CryptoHash) (*near.FinalExecutionOutcome, error) { return nil, near.ErrTimeout }
	chain := &fakeChain{
		call: func(string, any) (*near.FinalExecutionOutcome, error) {
			return nil, &near.SendError{TxHash: h, Err: errors.New("timed out waiting for the transaction")}
		},
		txStatus: func(x near.CryptoHash) (*near.FinalExecutionOutcome, error) { return status(x) },
	}
	r := (&resolver{replica: newFakeReplica(j), propose: &fakeProposer{}, chain: chain, sender: chain, contract: "outlayer.test",
		tip: &chainTip{}, warm: newWarmSet(), metrics: newMetrics(), log: quietLog()}).init()
	ctx := context.Background()
	r.resolveOne(ctx, j) // sends; the send times out
	r.resolveOne(ctx, j) // the chain is slow to answer: no second send
	if len(chain.calls) != 1 {
		t.Fatalf("%d sends while the first one's fate was unknown", len(chain.calls))
	}
	status = func(near.CryptoHash) (*near.FinalExecutionOutcome, error) { return nil, near.ErrUnknownTransaction }
	r.resolveOne(ctx, j) // unknown, just sent: it may still arrive
	if len(chain.calls) != 1 {
		t.Fatalf("sent again right after an 'unknown transaction'")
	}
	r.sentAt[j.ID] = r.sentAt[j.ID].Add(-resendAfter) // time passes
	r.resolveOne(ctx, j)                              // still unknown: send again
	if len(chain.calls) != 2 {
		t.Fatalf("%d sends, want a second one once the chain still did not know the first after %s", len(chain.calls), resendAfter)
	}
}

// A request the contract wants k signatures for and that has fewer (a
// failure the cluster decided has none) is not sent to be refused, for
// gas, again and again: it is closed and left to the yield timeout.
func TestResolverDoesNotSendUnsignableResolves(t *testing.T) {
	j := &store.Job{Request: store.Request{ID: 11, RequiredSignatures: 2, DataID: strings.Repeat("00", 32), Sender: "a.test"},
		Status: store.StatusFailed, Error: "given up before the yield deadline"}
	chain := &fakeChain{
		view: func(string, any, any) error { return errors.New("no agreement view") },
		call: func(string, any) (*near.FinalExecutionOutcome, error) {
			t.Fatal("sent an unsignable resolve")
			return nil, nil
		},
		height: 1,
	}
	prop := &fakeProposer{}
	r := (&resolver{replica: newFakeReplica(j), propose: prop, chain: chain, sender: chain, contract: "outlayer.test",
		tip: &chainTip{}, warm: newWarmSet(), metrics: newMetrics(), log: quietLog(),
		claims: &claimChain{chain: chain, status: fakeStatus{"c"}, contract: "outlayer.test"}}).init()
	r.resolveOne(context.Background(), j)
	ex := commands[*consensus.Expired](prop)
	if len(ex) != 1 || !strings.Contains(ex[0].Reason, "requires 2 executor signatures") || !strings.Contains(ex[0].Reason, "yield timeout") {
		t.Fatalf("expired %+v", ex)
	}
}
