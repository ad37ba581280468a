package contracts_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/outlayer/outlayer/contracts"
	"github.com/outlayer/outlayer/contracts/near"
	"github.com/outlayer/outlayer/testnet/fixture"
)

func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (w *world) tokenBalance(account string) near.U128 {
	w.t.Helper()
	var b near.U128
	w.view(w.fx.Token, "ft_balance_of", map[string]string{"account_id": account}, &b)
	return b
}

func (w *world) paymentKey(owner string, nonce uint32) *contracts.PaymentKeyView {
	w.t.Helper()
	var k *contracts.PaymentKeyView
	w.view(w.outlayer.AccountID(), contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: owner, Nonce: nonce}, &k)
	return k
}

// topUp sends amount of the payment token from s to the OutLayer contract
// with msg and returns what the token reports as used.
func (w *world) topUp(s *near.Signer, token string, amount near.U128, msg string) (near.U128, *near.FinalExecutionOutcome) {
	w.t.Helper()
	out, err := w.call(s, token, "ft_transfer_call", contracts.FtTransferCallArgs{
		ReceiverID: w.outlayer.AccountID(), Amount: amount, Msg: msg,
	}, near.U128{Lo: 1})
	if err != nil {
		w.t.Fatalf("ft_transfer_call: %v", err)
	}
	var used near.U128
	if err := out.DecodeResult(&used); err != nil {
		w.t.Fatalf("ft_transfer_call result: %v", err)
	}
	return used, out
}

func topUpMsg(t *testing.T, nonce uint32, owner string) string {
	b, err := json.Marshal(contracts.TopUpMsg{Action: contracts.FtActionTopUpPaymentKey, Nonce: nonce, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (w *world) seq() uint64 {
	w.t.Helper()
	var n uint64
	w.view(w.outlayer.AccountID(), contracts.MethodGetPaymentKeysSeq, nil, &n)
	return n
}

// Payment keys on chain: created with only the secret's hash and a storage
// deposit, topped up through the payment token's ft_transfer_call (bad
// top-ups refunded in full by the token), deleted with the deposit back;
// every change is an event and bumps the sequence a watcher polls.
func TestPaymentKeyCreateTopUpDelete(t *testing.T) {
	w := newWorldWith(t, fixture.WorldConfig{PaymentToken: true})
	c := w.outlayer.AccountID()
	alice := w.alice.AccountID()
	token := w.fx.Token
	secret := newSecret(t)
	key := contracts.PaymentKey{Owner: alice, Nonce: 1, Secret: secret}

	var tokenContract *string
	w.view(c, contracts.MethodGetPaymentTokenContract, nil, &tokenContract)
	if tokenContract == nil || *tokenContract != token {
		t.Fatalf("payment token = %v, want %s", tokenContract, token)
	}

	// Refused creations change nothing.
	before := w.state(c)
	for _, b := range []struct {
		args contracts.CreatePaymentKeyArgs
		want string
	}{
		{contracts.CreatePaymentKeyArgs{KeyHash: secret[:10]}, "never the secret itself"},
		{contracts.CreatePaymentKeyArgs{KeyHash: "zz" + key.Hash()[2:]}, "64 hex characters"},
		{contracts.CreatePaymentKeyArgs{KeyHash: key.Hash(), ProjectIDs: []string{"noslash"}}, "project ids of the form"},
		{contracts.CreatePaymentKeyArgs{KeyHash: key.Hash(), Nonce: ptr(uint32(0))}, "from 1 to 2147483647"},
		{contracts.CreatePaymentKeyArgs{KeyHash: key.Hash(), Nonce: ptr(contracts.MaxPaymentKeyNonce + 1)}, "from 1 to 2147483647"},
	} {
		_, err := w.call(w.alice, c, contracts.MethodCreatePaymentKey, b.args, near.OneNEAR)
		mustPanic(t, err, b.want)
	}
	_, err := w.call(w.alice, c, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{KeyHash: key.Hash()}, near.U128{Lo: 1})
	mustPanic(t, err, "Insufficient storage deposit. Required: ")
	if w.state(c) != before {
		t.Fatal("refused create_payment_key calls changed the state")
	}

	// Create: the deposit kept is exactly the recorded one and covers the bytes.
	maxPerCall := near.U128{Lo: 50_000}
	aliceBefore := w.balance(alice)
	out, err := w.call(w.alice, c, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{
		KeyHash: key.Hash(), ProjectIDs: []string{alice + "/app"}, MaxPerCall: &maxPerCall,
	}, near.OneNEAR)
	if err != nil {
		t.Fatalf("create_payment_key: %v", err)
	}
	var nonce uint32
	if err := out.DecodeResult(&nonce); err != nil || nonce != 1 {
		t.Fatalf("create_payment_key returned %d, %v", nonce, err)
	}
	k := w.paymentKey(alice, 1)
	if k == nil || k.KeyHash != key.Hash() || len(k.ProjectIDs) != 1 || k.MaxPerCall != maxPerCall || !k.InitialBalance.IsZero() || k.ID != 1 {
		t.Fatalf("key = %+v", k)
	}
	if got := w.balance(alice); got != sub(sub(aliceBefore, burnt(out)), k.StorageDeposit) {
		t.Fatalf("alice paid %s for the key, want %s", sub(sub(aliceBefore, got), burnt(out)), k.StorageDeposit)
	}
	evs, _ := contracts.OutLayerEvents(out.Logs())
	var created contracts.PaymentKeyCreated
	if len(evs) != 1 || evs[0].Decode(contracts.PaymentKeyEventCreated, &created) != nil || created.KeyHash != key.Hash() || created.Seq != 1 {
		t.Fatalf("create events %q", out.Logs())
	}
	for _, l := range out.Logs() {
		if strings.Contains(l, secret) {
			t.Fatalf("a log line contains the secret: %s", l)
		}
	}
	_, err = w.call(w.alice, c, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{KeyHash: key.Hash(), Nonce: ptr(uint32(1))}, near.OneNEAR)
	mustPanic(t, err, "Payment key already exists")

	// Top-up: the contract keeps the tokens and the key's total grows.
	amount := near.U128{Lo: 5_000_000}
	aliceTokens := w.tokenBalance(alice)
	used, tout := w.topUp(w.alice, token, amount, topUpMsg(t, 1, ""))
	if used != amount {
		t.Fatalf("top-up used %s of %s (logs %q)", used, amount, tout.Logs())
	}
	if k = w.paymentKey(alice, 1); k.InitialBalance != amount || k.TopUps != 1 {
		t.Fatalf("after top-up key = %+v", k)
	}
	if w.tokenBalance(alice) != sub(aliceTokens, amount) || w.tokenBalance(c) != amount {
		t.Fatalf("token balances alice %s contract %s", w.tokenBalance(alice), w.tokenBalance(c))
	}
	evs, _ = contracts.OutLayerEvents(tout.Logs())
	var topped contracts.PaymentKeyToppedUp
	if len(evs) != 1 || evs[0].Decode(contracts.PaymentKeyEventToppedUp, &topped) != nil ||
		topped.Amount != amount || topped.InitialBalance != amount || topped.Token != token || topped.SenderID != alice || topped.Seq != 2 {
		t.Fatalf("top-up events %q", tout.Logs())
	}

	// Bad top-ups: the token gets every unit back to the sender.
	w.view(c, contracts.MethodGetPaymentKey, contracts.PaymentKeyArgs{Owner: alice, Nonce: 1}, &k)
	stateBefore := w.state(c)
	aliceTokens = w.tokenBalance(alice)
	for _, b := range []struct {
		amount   uint64
		msg, why string
	}{
		{9_999, topUpMsg(t, 1, ""), "below the minimum"},
		{20_000, topUpMsg(t, 7, ""), "unknown nonce"},
		{20_000, topUpMsg(t, 1, w.owner.AccountID()), "another owner's missing key"},
		{20_000, `{"action":"deposit_balance"}`, "stablecoin balance action"},
		{20_000, `not json`, "malformed msg"},
	} {
		used, out := w.topUp(w.alice, token, near.U128{Lo: b.amount}, b.msg)
		if !used.IsZero() {
			t.Errorf("%s: the token reports %s used (logs %q)", b.why, used, out.Logs())
		}
	}
	if got := w.tokenBalance(alice); got != aliceTokens {
		t.Errorf("refused top-ups cost alice %s tokens", sub(aliceTokens, got))
	}
	if w.state(c) != stateBefore {
		t.Error("refused top-ups changed the contract state")
	}
	// ft_on_transfer from anyone but the payment token is refused.
	_, err = w.call(w.alice, c, contracts.MethodFtOnTransfer, map[string]any{"sender_id": alice, "amount": "1000000", "msg": topUpMsg(t, 1, "")}, near.U128{})
	mustPanic(t, err, "Only the payment token")
	// A second token's transfer comes back.
	fake, err := w.fx.Account(w.ctx, "fake", 10)
	if err != nil {
		t.Fatal(err)
	}
	w.deploy(fake, contracts.TokenWASM(), "new", map[string]any{"owner_id": alice, "total_supply": "1000000000"})
	if _, err := w.call(w.alice, fake.AccountID(), "storage_deposit", map[string]any{"account_id": c}, near.OneNEAR); err != nil {
		t.Fatal(err)
	}
	if used, _ := w.topUp(w.alice, fake.AccountID(), near.U128{Lo: 50_000}, topUpMsg(t, 1, "")); !used.IsZero() || w.tokenBalance(alice) != aliceTokens {
		t.Fatalf("a foreign token's top-up was kept: used %s", used)
	}
	_, err = w.call(w.alice, c, contracts.MethodTopUpPaymentKeyWithNear, NonceArgs(1), near.OneNEAR)
	mustPanic(t, err, "Top-ups in NEAR are not supported")

	// Anyone may top up another's key by naming its owner.
	ownerSecret := newSecret(t)
	usageBefore := w.storageUsage(c)
	if _, err := w.call(w.owner, c, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{
		KeyHash: contracts.PaymentKeyHash(ownerSecret), Nonce: ptr(uint32(5)),
	}, near.OneNEAR); err != nil {
		t.Fatal(err)
	}
	if used, _ := w.topUp(w.alice, token, near.U128{Lo: 30_000}, topUpMsg(t, 5, w.owner.AccountID())); used != (near.U128{Lo: 30_000}) {
		t.Fatalf("top-up of the owner's key used %s", used)
	}
	ok := w.paymentKey(w.owner.AccountID(), 5)
	if ok.InitialBalance != (near.U128{Lo: 30_000}) {
		t.Fatalf("owner's key = %+v", ok)
	}
	// The deposit is the bytes the key added plus room for its balance to
	// grow to 39 digits (38 bytes from "0").
	if used := w.storageUsage(c) - usageBefore; ok.StorageDeposit != mulPrice(used-uint64(len("30000"))+1+38) {
		t.Fatalf("the key takes %d bytes, its deposit is %s", used, ok.StorageDeposit)
	}
	var list []contracts.PaymentKeyView
	w.view(c, contracts.MethodListPaymentKeys, contracts.ListPaymentKeysArgs{}, &list)
	if len(list) != 2 || list[0].Owner != alice || list[1].Nonce != 5 {
		t.Fatalf("list_payment_keys = %+v", list)
	}
	var next uint32
	w.view(c, contracts.MethodGetNextPaymentKeyNonce, contracts.AccountArgs{AccountID: w.owner.AccountID()}, &next)
	if next != 6 {
		t.Fatalf("next nonce for the owner = %d", next)
	}
	// Nonces are never reused, even below the highest.
	_, err = w.call(w.owner, c, contracts.MethodCreatePaymentKey, contracts.CreatePaymentKeyArgs{KeyHash: key.Hash(), Nonce: ptr(uint32(3))}, near.OneNEAR)
	mustPanic(t, err, "was used before")

	// Delete: 1 yoctoNEAR needed; the deposit comes back; the key is gone.
	seqBefore := w.seq()
	_, err = w.call(w.alice, c, contracts.MethodDeletePaymentKey, NonceArgs(1), near.U128{})
	mustPanic(t, err, "at least 1 yoctoNEAR")
	_, err = w.call(w.owner, c, contracts.MethodDeletePaymentKey, NonceArgs(1), near.U128{Lo: 1})
	mustPanic(t, err, "Payment key not found")
	k = w.paymentKey(alice, 1)
	aliceBefore = w.balance(alice)
	del, err := w.call(w.alice, c, contracts.MethodDeletePaymentKey, NonceArgs(1), near.U128{Lo: 1})
	if err != nil {
		t.Fatalf("delete_payment_key: %v", err)
	}
	if got := w.balance(alice); got != sub(add(aliceBefore, k.StorageDeposit), burnt(del)) {
		t.Fatalf("delete refunded %s, want %s", sub(add(got, burnt(del)), aliceBefore), k.StorageDeposit)
	}
	evs, _ = contracts.OutLayerEvents(del.Logs())
	var deleted contracts.PaymentKeyDeleted
	if len(evs) != 1 || evs[0].Decode(contracts.PaymentKeyEventDeleted, &deleted) != nil || deleted.KeyHash != key.Hash() ||
		deleted.InitialBalance != amount || deleted.Seq != seqBefore+1 {
		t.Fatalf("delete events %q", del.Logs())
	}
	if w.paymentKey(alice, 1) != nil {
		t.Fatal("the key is still there")
	}
	w.view(c, contracts.MethodListUserPaymentKeys, contracts.AccountArgs{AccountID: alice}, &list)
	if len(list) != 0 {
		t.Fatalf("alice still lists %+v", list)
	}
	if used, _ := w.topUp(w.alice, token, near.U128{Lo: 20_000}, topUpMsg(t, 1, "")); !used.IsZero() {
		t.Fatal("a deleted key was topped up")
	}

	// The owner withdraws the tokens the keys brought in.
	if _, err := w.call(w.owner, token, "storage_deposit", nil, near.OneNEAR); err != nil {
		t.Fatal(err)
	}
	_, err = w.call(w.alice, c, contracts.MethodWithdrawPaymentTokens, contracts.WithdrawPaymentTokensArgs{}, near.U128{Lo: 1})
	mustPanic(t, err, "Only owner")
	if _, err := w.call(w.owner, c, contracts.MethodWithdrawPaymentTokens, contracts.WithdrawPaymentTokensArgs{}, near.U128{Lo: 1}); err != nil {
		t.Fatalf("withdraw_payment_tokens: %v", err)
	}
	received := add(amount, near.U128{Lo: 30_000})
	var acct contracts.PaymentTokenAccounting
	w.view(c, contracts.MethodGetPaymentTokenAccounting, nil, &acct)
	if acct.Received != received || acct.Withdrawn != received || w.tokenBalance(w.owner.AccountID()) != received || !w.tokenBalance(c).IsZero() {
		t.Fatalf("accounting %+v, owner holds %s", acct, w.tokenBalance(w.owner.AccountID()))
	}
	_, err = w.call(w.owner, c, contracts.MethodWithdrawPaymentTokens, contracts.WithdrawPaymentTokensArgs{}, near.U128{Lo: 1})
	mustPanic(t, err, "Cannot withdraw 0")
}

// NonceArgs is a shorthand for contracts.NonceArgs.
func NonceArgs(n uint32) contracts.NonceArgs { return contracts.NonceArgs{Nonce: n} }
