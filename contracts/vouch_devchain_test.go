package contracts_test

import (
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/fixture"
)

// Vouched executor keys on the devchain (contracts/DESIGN.md, "Vouched
// executor keys"): with k = 2, a key change is refused with one voucher, a
// repeated voucher, an unknown or removed voucher, the key vouching for
// itself, a vouch over another key, action, node id, contract or chain, a
// stale (replayed) nonce, or from any caller but the operator account; two
// valid vouchers add a key, and then remove one, each moving the nonce.
func TestVouchedExecutorKeys(t *testing.T) {
	w := newBareWorld(t, fixture.WorldConfig{})
	contract := w.outlayer.AccountID()
	two := uint64(2)
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{ChainID: "localnet", DefaultSignatures: &two}, near.U128{}); err != nil {
		t.Fatalf("set_agreement: %v", err)
	}
	agreement := func() contracts.Agreement {
		var ag contracts.Agreement
		w.view(contract, contracts.MethodGetAgreement, nil, &ag)
		return ag
	}
	e1, e2, e3, e4, stranger := newExecutor(t), newExecutor(t), newExecutor(t), newExecutor(t), newExecutor(t)
	newcomer := newExecutor(t)
	// Bootstrap stays with the owner: no key is registered, so nobody can vouch.
	for _, e := range []executor{e1, e2, e3, e4} {
		if _, err := w.call(w.owner, contract, contracts.MethodAddExecutorKey, contracts.AddExecutorKeyArgs{PublicKey: e.pub}, near.U128{}); err != nil {
			t.Fatalf("add_executor_key: %v", err)
		}
	}
	if _, err := w.call(w.owner, contract, contracts.MethodRemoveExecutorKey, contracts.ExecutorKeyArgs{PublicKey: e4.pub}, near.U128{}); err != nil {
		t.Fatalf("remove_executor_key: %v", err)
	}
	ag := agreement()
	if ag.ExecutorKeyNonce != 5 || ag.VouchersNeeded != 2 {
		t.Fatalf("after 4 adds and a removal: get_agreement = %+v, want nonce 5 and 2 vouchers needed", ag)
	}

	add := contracts.VouchMessage{ChainID: "localnet", Contract: contract, Action: contracts.VouchAdd,
		PublicKey: newcomer.pub.Ed25519(), NodeID: "12D3KooWnewcomer", Nonce: ag.ExecutorKeyNonce}
	vouch := func(m contracts.VouchMessage, by ...executor) []contracts.ExecutorSignature {
		t.Helper()
		var out []contracts.ExecutorSignature
		for _, e := range by {
			s, err := contracts.SignVouch(m, e.priv)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	submit := func(s *near.Signer, args contracts.VouchExecutorKeyArgs) error {
		_, err := w.call(s, contract, contracts.MethodVouchExecutorKey, args, near.U128{})
		return err
	}
	before := w.state(contract)

	// Each refused try leaves the state as it was.
	other := func(f func(m *contracts.VouchMessage)) contracts.VouchMessage { m := add; f(&m); return m }
	for _, c := range []struct {
		name, want string
		caller     *near.Signer
		args       contracts.VouchExecutorKeyArgs
	}{
		{"k-1 vouchers", "needs 2 registered executors' vouchers; it carries 1", w.operator,
			contracts.VouchArgs(add, vouch(add, e1))},
		{"a repeated voucher", "vouched more than once", w.operator,
			contracts.VouchArgs(add, vouch(add, e1, e1))},
		{"an unknown voucher", "is not a registered executor key", w.operator,
			contracts.VouchArgs(add, vouch(add, e1, stranger))},
		{"a removed voucher", "is not a registered executor key", w.operator,
			contracts.VouchArgs(add, vouch(add, e1, e4))},
		{"the key vouching for itself", "cannot vouch for its own change", w.operator,
			contracts.VouchArgs(add, vouch(add, e1, newcomer))},
		{"a vouch over another key", "is not over this key change", w.operator,
			contracts.VouchArgs(add, vouch(other(func(m *contracts.VouchMessage) { m.PublicKey = stranger.pub.Ed25519() }), e1, e2))},
		{"a vouch over another action", "is not over this key change", w.operator,
			contracts.VouchArgs(add, append(vouch(add, e1), vouch(other(func(m *contracts.VouchMessage) { m.Action, m.NodeID = contracts.VouchRemove, "" }), e2)...))},
		{"a vouch over another node id", "is not over this key change", w.operator,
			contracts.VouchArgs(add, vouch(other(func(m *contracts.VouchMessage) { m.NodeID = "12D3KooWsomeoneelse" }), e1, e2))},
		{"a vouch for another contract", "is not over this key change", w.operator,
			contracts.VouchArgs(add, vouch(other(func(m *contracts.VouchMessage) { m.Contract = "other." + contract }), e1, e2))},
		{"a vouch on another chain", "is not over this key change", w.operator,
			contracts.VouchArgs(add, vouch(other(func(m *contracts.VouchMessage) { m.ChainID = "mainnet" }), e1, e2))},
		{"a vouch for an earlier nonce", "is for key nonce 4, but the contract is at 5", w.operator,
			contracts.VouchArgs(other(func(m *contracts.VouchMessage) { m.Nonce = 4 }), vouch(other(func(m *contracts.VouchMessage) { m.Nonce = 4 }), e1, e2))},
		{"a caller other than the operator", "Only operator can call this", w.owner,
			contracts.VouchArgs(add, vouch(add, e1, e2))},
		{"a stranger caller", "Only operator can call this", w.alice,
			contracts.VouchArgs(add, vouch(add, e1, e2))},
	} {
		mustPanic(t, submit(c.caller, c.args), c.want)
		if after := w.state(contract); after != before {
			t.Fatalf("%s: refused, but the contract state changed", c.name)
		}
	}
	// A removal binds no node id; an add must name one.
	noNode := contracts.VouchArgs(add, vouch(add, e1, e2))
	noNode.NodeID = ""
	mustPanic(t, submit(w.operator, noNode), "a vouched add names the node_id its vouchers signed")

	// Two registered executors admit the newcomer.
	res, err := w.call(w.operator, contract, contracts.MethodVouchExecutorKey, contracts.VouchArgs(add, vouch(add, e1, e2)), near.U128{})
	if err != nil {
		t.Fatalf("a valid vouched add: %v", err)
	}
	t.Logf("gas: vouch_executor_key (add, 2 vouchers) burnt %d of the %d VouchGas(2) attaches", res.ReceiptsOutcome[0].Outcome.GasBurnt, contracts.VouchGas(2))
	if res.ReceiptsOutcome[0].Outcome.GasBurnt > contracts.VouchGas(2) {
		t.Errorf("VouchGas(2) = %d is less than the call burnt", contracts.VouchGas(2))
	}
	var keys []contracts.ExecutorKey
	w.view(contract, contracts.MethodListExecutorKeys, nil, &keys)
	if len(keys) != 4 || keys[3].PublicKey != newcomer.pub.String() || keys[3].NodeID != add.NodeID || keys[3].AddedBy != w.operator.AccountID() {
		t.Fatalf("list_executor_keys after the vouched add = %+v", keys)
	}
	if ag := agreement(); ag.ExecutorKeyNonce != 6 {
		t.Fatalf("nonce after the vouched add = %d, want 6", ag.ExecutorKeyNonce)
	}
	// The same vouch again: its nonce is spent.
	mustPanic(t, submit(w.operator, contracts.VouchArgs(add, vouch(add, e1, e2))), "is for key nonce 5, but the contract is at 6")

	// The newcomer and e2 vouch e1 out.
	rm := contracts.VouchMessage{ChainID: "localnet", Contract: contract, Action: contracts.VouchRemove, PublicKey: e1.pub.Ed25519(), Nonce: 6}
	mustPanic(t, submit(w.operator, contracts.VouchArgs(rm, vouch(rm, e1, e2))), "cannot vouch for its own change")
	if _, err := w.call(w.operator, contract, contracts.MethodVouchExecutorKey, contracts.VouchArgs(rm, vouch(rm, newcomer, e2)), near.U128{}); err != nil {
		t.Fatalf("a valid vouched removal: %v", err)
	}
	w.view(contract, contracts.MethodListExecutorKeys, nil, &keys)
	for _, k := range keys {
		if k.PublicKey == e1.pub.String() {
			t.Fatalf("e1 still registered after its vouched removal: %+v", keys)
		}
	}
	if len(keys) != 3 {
		t.Fatalf("list_executor_keys after the removal = %+v", keys)
	}
	// Removed, e1 vouches for nothing any more.
	rm2 := contracts.VouchMessage{ChainID: "localnet", Contract: contract, Action: contracts.VouchRemove, PublicKey: e3.pub.Ed25519(), Nonce: 7}
	mustPanic(t, submit(w.operator, contracts.VouchArgs(rm2, vouch(rm2, e1, e2))), "is not a registered executor key")

	// vouch_signatures raises the threshold (never lowers it below k).
	three := uint64(3)
	if _, err := w.call(w.owner, contract, contracts.MethodSetAgreement, contracts.AgreementArgs{VouchSignatures: &three}, near.U128{}); err != nil {
		t.Fatal(err)
	}
	if ag := agreement(); ag.VouchersNeeded != 3 || ag.VouchSignatures != 3 {
		t.Fatalf("get_agreement with vouch_signatures 3 = %+v", ag)
	}
	mustPanic(t, submit(w.operator, contracts.VouchArgs(rm2, vouch(rm2, newcomer, e2))), "needs 3 registered executors' vouchers; it carries 2")
}

// The message encoding refuses what the contract would never accept.
func TestVouchMessageEncoding(t *testing.T) {
	e := newExecutor(t)
	m := contracts.VouchMessage{ChainID: "localnet", Contract: "outlayer.near", Action: contracts.VouchAdd, PublicKey: e.pub.Ed25519(), NodeID: "n", Nonce: 1}
	if _, err := m.Encode(); err != nil {
		t.Fatal(err)
	}
	bad := m
	bad.Action = "replace"
	if _, err := bad.Encode(); err == nil {
		t.Error("an unknown action encoded")
	}
	bad = m
	bad.Action = contracts.VouchRemove
	if _, err := bad.Encode(); err == nil {
		t.Error("a removal with a node id encoded")
	}
	bad = m
	bad.PublicKey = bad.PublicKey[:31]
	if _, err := bad.Encode(); err == nil {
		t.Error("a 31-byte key encoded")
	}
	s, err := contracts.SignVouch(m, e.priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := contracts.VerifyVouch(m, s); err != nil {
		t.Fatalf("own vouch: %v", err)
	}
	m.Nonce++
	if err := contracts.VerifyVouch(m, s); err == nil {
		t.Error("a vouch verified for the next nonce")
	}
}
