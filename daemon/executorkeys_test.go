package daemon

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/store"
)

// identity is a node identity: its executor key and peer id.
type identity struct {
	priv ed25519.PrivateKey
	id   string
	key  near.PublicKey
}

func newIdentity(t *testing.T) identity {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := k.Raw()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	priv := ed25519.PrivateKey(raw)
	return identity{priv: priv, id: id.String(), key: near.PublicKeyFromEd25519(priv.Public().(ed25519.PublicKey))}
}

type fixedChainID string

func (c fixedChainID) chainID(context.Context) (string, error) { return string(c), nil }

// A member vouches only for what its own replica shows: adding a member's
// identity key under its peer id, removing a key no member holds, for its
// own contract and chain. Everything else is refused.
func TestVoucherChecksTheMembership(t *testing.T) {
	a, b, c, stranger := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	v := &voucher{members: fakeMembers{self: a.id, all: []string{a.id, b.id, c.id}}, key: a.priv, contract: "outlayer.test", chain: fixedChainID("localnet")}
	ctx := context.Background()
	msg := func(action contracts.VouchAction, who identity, nodeID string) contracts.VouchMessage {
		return contracts.VouchMessage{ChainID: "localnet", Contract: "outlayer.test", Action: action, PublicKey: who.key.Ed25519(), NodeID: nodeID, Nonce: 7}
	}
	for _, m := range []contracts.VouchMessage{msg(contracts.VouchAdd, c, c.id), msg(contracts.VouchRemove, stranger, "")} {
		sig, err := v.sign(ctx, m)
		if err != nil {
			t.Fatalf("%s %s: %v", m.Action, m.PublicKey, err)
		}
		if sig.PublicKey != a.key || contracts.VerifyVouch(m, sig) != nil {
			t.Fatalf("%s: the vouch is not a's over the message", m.Action)
		}
	}
	other := func(f func(*contracts.VouchMessage)) contracts.VouchMessage {
		m := msg(contracts.VouchAdd, c, c.id)
		f(&m)
		return m
	}
	for name, c := range map[string]struct {
		m    contracts.VouchMessage
		want string
	}{
		"add a stranger":            {msg(contracts.VouchAdd, stranger, stranger.id), "is not a member"},
		"add under another node id": {msg(contracts.VouchAdd, c, "node2"), "recorded under its member's peer id"},
		"remove a member":           {msg(contracts.VouchRemove, b, ""), "is still a member"},
		"remove its own key":        {msg(contracts.VouchRemove, a, ""), "this node's own"},
		"another contract":          {other(func(m *contracts.VouchMessage) { m.Contract = "evil.test" }), "this node serves outlayer.test"},
		"another chain":             {other(func(m *contracts.VouchMessage) { m.ChainID = "mainnet" }), `this node's claims bind "localnet"`},
		"an unknown action":         {other(func(m *contracts.VouchMessage) { m.Action = "swap" }), "neither"},
		"a removal with a node id":  {other(func(m *contracts.VouchMessage) { m.Action = contracts.VouchRemove }), "binds no node id"},
	} {
		_, err := v.sign(ctx, c.m)
		if !errors.Is(err, errVouchRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal containing %q", name, err, c.want)
		}
	}
}

// signingVouchers asks voucher-per-member in process, as vouchCollector
// does over the network.
type signingVouchers map[string]*voucher

func (s signingVouchers) collect(ctx context.Context, m contracts.VouchMessage, from []string, need int) ([]contracts.ExecutorSignature, []error) {
	var sigs []contracts.ExecutorSignature
	var problems []error
	for _, id := range from {
		sig, err := s[id].sign(ctx, m)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if sigs = append(sigs, sig); len(sigs) == need {
			break
		}
	}
	return sigs, problems
}

// The leader's loop: nothing before the owner registered a key; then, with
// k = 2, the restarted member's new key is added with two members' vouches
// and the old identity's key removed once no pending request carries its
// signature; a cluster with too few registered members says so.
func TestExecutorKeysFollowTheMembers(t *testing.T) {
	a, b, old, restarted := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	all := []string{a.id, b.id, restarted.id}
	ag := contracts.Agreement{ChainID: "localnet", DefaultSignatures: 2, VouchersNeeded: 2, ExecutorKeyNonce: 3}
	var registered []contracts.ExecutorKey
	chain := &fakeChain{height: 10}
	chain.view = func(method string, _ any, out any) error {
		var v any = ag
		if method == contracts.MethodListExecutorKeys {
			v = registered
		}
		raw, _ := json.Marshal(v)
		return json.Unmarshal(raw, out)
	}
	var sent []contracts.VouchExecutorKeyArgs
	chain.call = func(method string, args any) (*near.FinalExecutionOutcome, error) {
		if method != contracts.MethodVouchExecutorKey {
			t.Fatalf("called %s", method)
		}
		sent = append(sent, args.(contracts.VouchExecutorKeyArgs))
		return &near.FinalExecutionOutcome{}, nil
	}
	vs := signingVouchers{}
	for _, id := range []identity{a, b, restarted} {
		vs[id.id] = &voucher{members: fakeMembers{self: id.id, all: all}, key: id.priv, contract: "outlayer.test", chain: fixedChainID("localnet")}
	}
	pendingJob := &store.Job{Request: store.Request{ID: 1}, Status: store.StatusCompleted,
		Agreement: &store.Agreement{K: 2, Results: []store.Result{{Node: old.id, SignerKey: old.key.String()}}}}
	replica := newFakeReplica(pendingJob)
	e := &executorKeys{chain: chain, sender: chain, contract: "outlayer.test", members: fakeMembers{self: a.id, all: all},
		pending: replica, vouch: vs, status: &executorKeyStatus{}, metrics: newExecutorKeyMetrics(prometheus.NewRegistry()), log: quietLog()}
	ctx := context.Background()
	pass := func() {
		t.Helper()
		if err := e.pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reg := func(ids ...identity) {
		registered = nil
		for _, id := range ids {
			registered = append(registered, contracts.ExecutorKey{PublicKey: id.key.String()})
		}
	}

	// Bootstrap: nobody can vouch yet.
	pass()
	if st := e.status.snapshot(); len(sent) != 0 || len(st.Pending) != 0 || !strings.Contains(st.Note, "the owner registers the first keys") {
		t.Fatalf("with no key registered: sent %v, status %+v", sent, e.status.snapshot())
	}

	// The owner registered a, b and old; old restarted as restarted.
	reg(a, b, old)
	pass()
	if len(sent) != 1 || sent[0].Action != contracts.VouchAdd || sent[0].PublicKey != restarted.key || sent[0].NodeID != restarted.id ||
		sent[0].Nonce != 3 || len(sent[0].Vouchers) != 2 {
		t.Fatalf("the restarted member's add: %+v", sent)
	}
	// Until the change is final, nothing more is planned.
	pass()
	if len(sent) != 1 {
		t.Fatalf("a second change before the first was final: %+v", sent)
	}
	reg(a, b, old, restarted)
	ag.ExecutorKeyNonce = 4
	pass()
	if st := e.status.snapshot(); len(sent) != 1 || !strings.Contains(st.Note, "requests not yet resolved carry its signature") {
		t.Fatalf("old's removal went ahead while a pending request carries its signature: %+v, %+v", sent, st)
	}
	pendingJob.Status = store.StatusResolved
	pass()
	if len(sent) != 2 || sent[1].Action != contracts.VouchRemove || sent[1].PublicKey != old.key || sent[1].NodeID != "" || sent[1].Nonce != 4 {
		t.Fatalf("old's removal: %+v", sent)
	}
	for _, v := range sent[1].Vouchers {
		if v.PublicKey == old.key {
			t.Fatal("the removed key vouched for its own removal")
		}
	}
	reg(a, b, restarted)
	ag.ExecutorKeyNonce = 5
	pass()
	if st := e.status.snapshot(); len(sent) != 2 || len(st.Pending) != 0 || st.Registered != 3 || !strings.HasPrefix(st.LastChange, "remove") {
		t.Fatalf("after both changes: sent %d, status %+v", len(sent), st)
	}

	// k = 3 with two registered members: the loop fails, saying why.
	ag.VouchersNeeded = 3
	reg(a, b)
	err := e.pass(ctx)
	if err == nil || !strings.Contains(err.Error(), "needs 3 vouchers, but only 2 members have registered executor keys") {
		t.Fatalf("too few vouchers: %v", err)
	}
}
